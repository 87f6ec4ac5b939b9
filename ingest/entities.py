"""Named entities of a passage: persons, places, organisations (military and police units
included), phone numbers, e-mail addresses and document numbers, each with its character span.

No statistical model: everything here is offline and ships with the project's own dependencies.
- Pattern types (``email``, ``phone``, ``docnum``) and units (``в/ч 12345``, ``батальйон «Айдар»``,
  ``ООО «…»``) are regular expressions.
- Capitalised words are grouped into runs and classified by pymorphy3's proper-name tags (Name,
  Surn, Patr → person; Geox → place; Orgn → org) for Russian and Ukrainian; Belarusian words are
  respelt the Russian way (і→и, ў→в, …) and looked up in both dictionaries; then contextual rules
  decide what the dictionaries do not: titles (генерал, пан, Mr) before a person, place markers
  (с., вул., смт, місто, village) and locative prepositions (в, у, из, біля, in, near) before a
  place, organisation head words (министерство, суд, Council) inside an organisation, and a small
  list of countries and cities for English.
- Each mention gets a display form (nominative lemmas, capitalised) and a match key built from the
  transliteration keys (``index/translit.py``) of the stemmed lemmas, so that Кадыров, Кадиров,
  Кадыраў, Kadyrov and the inflected Кадырова, Кадирові share a key.

The quality of this on annotated passages of the four languages is in docs/benchmarks.md.

Why one module: the extractor is one pass over a passage's tokens in which the patterns, the
morphological tags and the merge keys are used together; the rules read best in one place, next to
the lists they use.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

from index.morph import be_stem, is_cyrillic
from index.translit import translit_keys

ENTITY_TYPES: tuple[str, ...] = ("person", "place", "org", "phone", "email", "docnum")
NAMED_TYPES: tuple[str, ...] = ("person", "place", "org")
MAX_MENTIONS_PER_PASSAGE = 200
MAX_MENTION_CHARS = 200


@dataclass(frozen=True)
class Mention:
    """One entity mention: ``start``/``end`` are character offsets in the passage text."""

    type: str
    start: int
    end: int
    norm: str
    """Display form: lemmas in the nominative (persons, places, organisations), or the
    canonical form of a pattern (digits of a phone, lower-case e-mail)."""
    key: str
    """What mentions of one entity share (see ``mention_key``)."""
    guessed: bool = False
    """Typed by the default rule only (unknown capitalised words → person); a list it stands in
    may correct it (``_agree_in_lists``)."""


# -- patterns ----------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+", re.UNICODE)
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\s?\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)|\d{2,5})[\s.-]?\d{1,4}[\s.-]?\d{2}[\s.-]?\d{2}(?![\w])"
)
_DOCNUM = re.compile(r"(?:№|N[o°º]\.?|#)\s?(?P<num>[A-ZА-ЯІЇЄҐЎ]{0,4}[\s-]?\d[\w/.\-]*\w|\d)", re.UNICODE)
_PASSPORT = re.compile(
    r"(?i)(?:паспорт\w*|passport|пашпарт\w*|id[- ]card|ID)[^\n\d№]{0,30}?"
    r"(?P<num>(?:[A-ZА-ЯІЇЄҐЎ]{2}\s?)?\d{2}\s?\d{2}\s?\d{5,6}|[A-Z]{2}\d{6,7})"
)
_UNIT_NUMBER = re.compile(
    r"(?i)(?:в/ч|в\.ч\.|вч|в/ч\.|military unit|(?:войсков|воинск|військов|вайсков)\w*\s+част\w*)"
    r"\s*№?\s*(?P<num>\d{3,6})"
)
_QUOTED = r"(?:«[^»\n]{1,60}»|\"[^\"\n]{1,60}\"|„[^“”\n]{1,60}[“”]|“[^”\n]{1,60}”)"
_UNIT_HEADS = (
    r"батальон\w*|батальйон\w*|батальён\w*|баталь[её]н\w*|полк\w*|бригад\w*|брыгад\w*|дивизи\w*|"
    r"дивізі\w*|дывізі\w*|рот[аиуыіе]|отряд\w*|загін\w*|загон\w*|корпус\w*|легион\w*|легіон\w*|"
    r"battalion|regiment|brigade|division|company|легіён\w*|полку|полка"
)
_ORG_HEADS_QUOTED = (
    r"ООО|ОАО|ЗАО|ПАО|АО|ТОВ|ПрАТ|ПАТ|АТ|ТАА|ААТ|компани\w*|компані\w*|кампані\w*|фирм\w*|фірм\w*|"
    r"организаци\w*|організаці\w*|арганізацы\w*|парти[яиюей]\w*|парті[яїю]\w*|партыі?\w*|"
    r"общественн\w+ организаци\w*|фонд\w*|газет\w*|издательств\w*|видавництв\w*|телеканал\w*|"
    r"агентств\w*|агенцтв\w*|банк\w*|движени\w*|рух\w*|союз\w*|спілк\w*|саюз\w*|group|company|party"
)
_UNIT_QUOTED = re.compile(
    rf"(?i)(?<![\w/])(?:\d{{1,3}}(?:-?[а-яіїєa-z]{{1,3}})?\s+)?(?:{_UNIT_HEADS})\s+{_QUOTED}"
)
_ORG_QUOTED = re.compile(rf"(?:{_ORG_HEADS_QUOTED})\s+{_QUOTED}", re.IGNORECASE)
_UNIT_ORDINAL = re.compile(
    rf"(?i)\b\d{{1,4}}(?:-?(?:й|я|го|ї|ї|і|th|st|nd|rd|ша|га|ая|ой|ий|ый))?\s+(?:[а-яіїєўa-z'-]+\s+){{0,3}}?(?:{_UNIT_HEADS})\b"
)

# -- words ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]+(?:['’ʼ`-][^\W\d_]+)*", re.UNICODE)
_INITIAL = re.compile(r"([A-ZА-ЯІЇЄҐЎ])\.\s?(?:([A-ZА-ЯІЇЄҐЎ])\.\s?)?$")

_TITLES = frozenset(
    """
    господин господина господину гражданин гражданина гражданка гражданки г-н г-жа пан пана пану
    пані панi спадар спадара спадарыня генерал генерала генералом генерал-майор генерал-лейтенант
    полковник полковника подполковник підполковник майор майора капитан капитана капітан лейтенант
    лейтенанта сержант сержанта командир командира командиром президент президента президентом
    премьер прем'єр прэм'ер министр министра міністр міністра міністар депутат депутата судья судьи
    суддя судді прокурор прокурора следователь следователя слідчий слідчого адвокат адвоката
    журналист журналиста журналіст журналістка свидетель свидетеля свідок свідка рядовой рядового
    солдат солдата mr mrs ms dr general colonel major captain lieutenant sergeant president minister
    суддзя суддзю суддзі судью судье сенатор сенатора сенатором сенатар сенатара прэзідэнт прэзідэнта
    трэнер тренер тренера трэнера лидер лидера лідер лідера лідэр лідэра
    sen rep gov coach leader chairman chief secretary spokesman ambassador
    judge prosecutor senator governor mayor officer commander sir lord lady prince king queen pope
    доктор доктора професор профессор патриарх патріарх митрополит отец отца батюшка
    маёр маёра капітан капітана лейтэнант лейтэнанта сяржант сяржанта палкоўнік палкоўніка генерал
    рядовий рядового радавы радавога ефрейтор єфрейтор старшина прапорщик прапорщика мичман
    підполковника полковнику солдат солдата вояк боец бойца боєць бійця байца
    свідка свідку сведка сведкі следчы следчага слідчому следователем потерпевший потерпевшего
    потерпілий потерпілого потерпілої потерпевшая пацярпелы пацярпелая спадарыні спадарыня
    журналістка журналістки журналістку журналістцы журналистка журналистки правозащитник
    правозащитника правозахисник правозахисника праваабаронца праваабаронцы заявитель заявителя
    заявник заявника заявітель гражданки громадянин громадянина громадянка громадянки
    грамадзянін грамадзянка затриманий затриманого задержанный задержанного затрыманы затрыманага
    witness investigator journalist private corporal reporter activist lawyer detective inspector
    посол посла послом пасол пасла амбасадар амбасадара амбасадор амбасадора
    """.split()  # noqa: SIM905
)
_PLACE_MARKERS = frozenset(
    """
    с. село села селе селі сёлы сяло сяла вёска вёсцы пос. посёлок поселок поселка посёлка пгт смт
    г. город города городе місто міста місті горад горада горадзе м. вул. ул. улица улице улицы
    вулиця вулиці вуліца вуліцы пр. просп. проспект проспекта пл. площадь площа плошча район району
    района області обл. области вобласці р-н х. хутор хутора станица станицы станиця аул аула
    городам городах городов города городами міст містах містами гарадах гарадоў гарадамі
    village town city district region province oblast street avenue
    """.split()  # noqa: SIM905
)
_PLACE_SUFFIX_WORDS = frozenset(
    """
    область области області вобласць вобласці район района району раёне раёна край края краю
    """.split()  # noqa: SIM905
)
_LOC_PREPS = frozenset(
    """
    в во у на из із з зі из-под под під пад около біля каля возле недалеко до от від ад через in
    near at from into outside across towards toward throughout
    """.split()  # noqa: SIM905
)
_PLACE_PREFIXES = (
    "северн", "южн", "западн", "восточн", "центральн", "соединенн", "північн", "південн", "західн",
    "східн", "сполучен", "паўночн", "паўднёв", "паўднев", "заходн", "усходн", "цэнтральн", "злучан",
)  # fmt: skip
"""First words of compound place names (Северная Корея, Західна Вірджинія, Злучаныя Штаты)."""
_IN_PREPS: dict[str, tuple[str, ...]] = {"ru": ("в", "во"), "uk": ("в", "у"), "be": ("у", "ў")}
"""Prepositions meaning "in": a single capitalised word after one is taken for a place (people
are "у Петрова", rarely "в Петрове")."""
_ORG_HEADS = frozenset(
    """
    министерство министерства міністерство міністэрства служба служби службы управление управления
    управління упраўленне комитет комитета комітет камітэт рада ради рады совет совета савет суд
    суда суду суді трибунал трибунала прокуратура прокуратуры прокуратури університет университет
    універсітэт академия академія банк банка фонд фонда партия партии партія партії партыя агентство
    агентства агентство організація организация арганізацыя компания компанія кампанія отдел отдела
    відділ аддзел департамент департамента штаб штаба батальон батальйон полк бригада бригады
    бригади армия армии армія армії войска військ войск гвардия гвардії гвардыя міліція милиция
    міліцыя полиция поліція паліцыя омон омона беркут беркута ministry committee council court
    tribunal office agency service university party bank fund army police guard battalion brigade
    regiment union commission parliament government department organization organisation association
    corporation company inc ltd bureau institute nations federation league foundation network news
    times post
    """.split()  # noqa: SIM905
)
_ACRONYM_PLACES = frozenset(
    """
    США РФ СССР УССР БССР ЗША USA US UK UAE USSR ДНР ЛНР АРК КНР КНДР
    """.split()  # noqa: SIM905
)
_EN_PLACES = frozenset(
    """
    afghanistan albania algeria america argentina armenia australia austria azerbaijan belarus
    belgium bosnia brazil britain bulgaria canada chechnya chile china crimea croatia cuba cyprus
    czechia denmark donbas donbass donetsk egypt england estonia europe finland france georgia
    germany greece hungary india indonesia iran iraq ireland israel italy japan jordan kazakhstan
    kharkiv kherson kiev kyiv korea kosovo latvia lebanon libya lithuania luhansk lviv macedonia
    mariupol mexico minsk moldova moscow netherlands nigeria norway odesa odessa pakistan palestine
    poland portugal romania russia scotland serbia slovakia slovenia somalia spain sudan sweden
    switzerland syria taiwan tajikistan turkey turkmenistan uganda ukraine uzbekistan venezuela
    vietnam wales yemen zaporizhzhia grozny london paris berlin washington brussels geneva
    strasbourg hague warsaw vilnius riga tallinn beijing tokyo york california texas florida africa
    asia caucasus siberia bucha irpin bakhmut sevastopol simferopol dnipro chernihiv sumy mykolaiv
    zaporizhia crimean hostomel avdiivka
    """.split()  # noqa: SIM905
)
_EN_NOT_NAMES = frozenset(
    """
    i monday tuesday wednesday thursday friday saturday sunday january february march april may june
    july august september october november december english russian ukrainian belarusian european
    american british french german soviet christian muslim jewish god mr mrs ms dr st no
    """.split()  # noqa: SIM905
)
_RU_NOT_NAMES = frozenset(
    """
    январь февраль март апрель май июнь июль август сентябрь октябрь ноябрь декабрь понедельник
    вторник среда четверг пятница суббота воскресенье бог господь
    """.split()  # noqa: SIM905
)
_BE_NOT_NAMES = frozenset(
    """
    студзень люты сакавік красавік травень чэрвень ліпень жнівень верасень кастрычнік лістапад
    снежань панядзелак аўторак серада чацвер пятніца субота нядзеля бог гасподзь такія такі такая
    такое гэтыя гэты гэтая якія які якая паводле таму аднак калі пасля падчас нават цяпер тады вось
    усе ўсе усё ўсё многія некаторыя шмат іншыя свае сваё наш нашы ваш вашы
    """.split()  # noqa: SIM905
)
"""Belarusian words often first in a sentence that the Russian respelling misreads as names."""
_BE_PLACES = frozenset(
    """
    беларусь беларусі расія расіі расію украіна украіны украіне украіну польшча польшчы польшчу
    літва літвы літве латвія латвіі эстонія эстоніі германія германіі нямеччына нямеччыны францыя
    францыі кітай кітая кітаі амерыка амерыкі вялікабрытанія вялікабрытаніі ангельшчына
    ангельшчыны японія японіі італія італіі іспанія іспаніі швецыя швецыі фінляндыя фінляндыі
    грузія грузіі арменія арменіі азербайджан казахстан малдова малдовы румынія румыніі
    балгарыя балгарыі венгрыя венгрыі чэхія чэхіі аўстрыя аўстрыі швейцарыя швейцарыі турцыя
    турцыі сірыя сірыі ізраіль ізраілі егіпет егіпта індыя індыі пакістан іран ірана ірак ірака
    афганістан бразілія бразіліі мексіка мексікі канада канады аўстралія аўстраліі еўропа еўропы
    еўропе азія азіі афрыка афрыкі мінск мінска мінску масква масквы маскве кіеў кіева кіеве
    варшава варшавы вільня вільні гародня гародні магілёў магілёва гомель гомеля віцебск віцебска
    брэст брэста лондан лондана парыж парыжа берлін берліна вашынгтон вашынгтона пекін пекіна
    """.split()  # noqa: SIM905
)
"""Countries, continents and capitals in Belarusian spelling: the Russian respelling misses them
(Расія is Россия, Кітай is Китай; the dictionary takes Расія for a first name)."""
_SAYING = frozenset(
    """
    каже сказав сказала заявив заявила повідомив повідомила зазначив зазначила вважає пише написав
    написала додав додала пояснив пояснила був була має мав мала став стала
    кажа сказаў сказала заявіў заявіла паведаміў паведаміла адзначыў адзначыла лічыць піша напісаў
    напісала дадаў дадала растлумачыў растлумачыла быў была мае меў мела стаў стала
    """.split()  # noqa: SIM905
)
"""Ukrainian and Belarusian verbs of saying and being that make a sentence's first capitalised
word its subject (Флэйк быў …, Рос кажа …); the Belarusian ones the Russian respelling misses."""
_SURNAME_ENDINGS = (
    "енко", "енка", "ович", "евич", "овіч", "евіч", "овский", "евский", "ський", "цький", "скі",
    "цкі", "ская", "цкая", "ська", "цька", "чук", "щук", "юк", "ук", "чык", "ёнак", "онак",
)  # fmt: skip
"""Endings of East Slavic surnames in the nominative (Коваленко, Лукашэнка, Каліноўскі, Шушкевіч)."""
_BE_ADJ_PLURAL = ("скіх", "цкіх", "скімі", "цкімі", "ських", "цьких", "ськими", "цькими")
"""Plural adjective endings (Азіяцкіх, Азіатських): a capitalised one is no person's name."""
_TITLES = frozenset(w.replace("ё", "е") for w in _TITLES)
_PLACE_MARKERS = frozenset(w.replace("ё", "е") for w in _PLACE_MARKERS)
_PLACE_SUFFIX_WORDS = frozenset(w.replace("ё", "е") for w in _PLACE_SUFFIX_WORDS)
_ORG_HEADS = frozenset(w.replace("ё", "е") for w in _ORG_HEADS)
_ORG_STEMS = (
    "министерств", "міністерств", "міністэрств", "служб", "управлени", "управлінн", "упраўленн",
    "комитет", "комітет", "камітэт", "совет", "савет", "трибунал", "прокуратур", "университет",
    "універс", "академи", "академі", "агентств", "агенцтв", "организаци", "організаці",
    "арганізацы", "компани", "компані", "кампані", "департамент", "батальон", "батальйон",
    "батальён", "бригад", "брыгад", "гвардi", "гвардыя", "милици", "міліці", "міліцы", "полици",
    "поліці", "паліцы", "сенат", "парламент", "конгрес", "партии", "партия", "партію", "партией",
    "партії", "партія", "партыі", "партыя", "лиг", "ліг", "лізе", "союз", "саюз", "спілк", "фонд",
    "банк", "ministr", "committee", "council", "court", "tribunal", "agency", "service",
    "universit", "party", "army", "police", "battalion", "brigade", "regiment", "union",
    "commission", "parliament", "government", "department", "organi", "association",
    "corporation", "company", "bureau", "institute", "nations", "federation", "league",
    "foundation", "senate", "congress", "news",
)  # fmt: skip
_COURT = frozenset(
    ["суд", "суда", "суду", "суде", "суді", "судом", "рада", "ради", "раді", "радою", "рады", "раду"]
)


def _org_head(folded: str) -> bool:
    """An organisation's head word (Министерство, служби, Council), in any case form."""
    return folded in _ORG_HEADS or folded in _COURT or folded.startswith(_ORG_STEMS)


_BE_TO_RU = str.maketrans({"і": "и", "ў": "в", "э": "е", "'": "ъ", "’": "ъ"})
_UK_TO_RU = str.maketrans({"и": "ы", "і": "и", "ї": "и", "є": "е", "ґ": "г", "'": "ъ", "’": "ъ"})


def _be_variants(ru: str) -> list[str]:
    """Russian spellings a Belarusian word respelt letter by letter may stand for: unstressed о is
    written а (akanye: Масквы → Москвы, Балівіі → Боливии) and д before a soft vowel дз (dzekanye:
    Невадзе → Неваде); at most the first three а are tried as о; unstressed е is written я (yakanye:
    Вялікабрытаніі → Великобритании), the first я is tried as е."""
    base = ru.replace("дзе", "де").replace("дзи", "ди").replace("дзя", "дя").replace("дзю", "дю")
    forms = [ru] if base == ru else [ru, base]
    if "я" in base[:-1]:  # yakanye: unstressed е is written я (Вялікабрытаніі → Великобритании)
        forms.append(base[:-1].replace("я", "е", 1) + base[-1])
    spots = [i for i, ch in enumerate(base) if ch == "а"][:3]
    for mask in range(1, 1 << len(spots)):
        chars = list(base)
        for b, i in enumerate(spots):
            if mask >> b & 1:
                chars[i] = "о"
        forms.append("".join(chars))
    return forms


_be_cache: dict[str, str] = {}


def _be_as_ru(word: str) -> str:
    """The Russian spelling of a Belarusian word that the Russian dictionary knows as a proper name
    (a place first, then a person's name), else the letter-by-letter respelling."""
    ru = word.translate(_BE_TO_RU).replace("ъ", "")
    cached = _be_cache.get(ru)
    if cached is not None:
        return cached
    out = ru
    first = _parses(ru, "ru")
    if not any("Geox" in g for _, g in first):  # a place spelt with akanye is taken over a name
        person = any(g & _PERSON_TAGS for _, g in first)
        for form in _be_variants(ru)[1:]:
            tags = [g for _, g in _parses(form, "ru")]
            if any("Geox" in g for g in tags) or (not person and any(g & _PERSON_TAGS for g in tags)):
                out = form
                break
    if len(_be_cache) > 100_000:
        _be_cache.clear()
    _be_cache[ru] = out
    return out


@functools.lru_cache(maxsize=50_000)
def _is_title(folded: str, lang: str = "ru") -> bool:
    """A title, rank or role before a name (генерал, капітана, генерал-майором, прем'єр-міністр,
    Sen.): the word, one of its hyphenated parts, or its dictionary lemma is in the list."""
    w = folded.rstrip(".")
    if w in _TITLES or any(part in _TITLES for part in w.split("-") if len(part) > 2):
        return True
    if not is_cyrillic(w.replace("-", "").replace("'", "")) or len(w) < 4:
        return False
    head = w.split("-")[0]
    form, dl = (_be_as_ru(head), "ru") if lang == "be" else (head, lang if lang in ("ru", "uk") else "ru")
    return any(nf in _TITLES and "NOUN" in g for nf, g in _parses(form, dl))


def _fold(word: str) -> str:
    return unicodedata.normalize("NFC", word).casefold().replace("ё", "е").replace("’", "'").replace("ʼ", "'")


def _is_cap(word: str) -> bool:
    return word[:1].isupper()


def _is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return 2 <= len(letters) <= 6 and all(c.isupper() for c in letters) and "-" not in word


# -- dictionaries --------------------------------------------------------------------------------


def _parses(word: str, lang: str) -> list[tuple[str, frozenset[str]]]:
    """(normal form, grammemes) of the dictionary readings of a lower-case word."""
    from index.morph import _morph

    m = _morph(lang)
    out: list[tuple[str, frozenset[str]]] = []
    for p in m.parse(word):
        if type(p.methods_stack[0][0]).__name__ != "DictionaryAnalyzer":
            continue
        out.append((p.normal_form, frozenset(p.tag.grammemes)))
    return out


_PERSON_TAGS = frozenset({"Name", "Surn", "Patr"})


@dataclass
class _WordInfo:
    word: str
    """The word, case-folded."""
    lemma: str | None = None
    """Its dictionary lemma in the passage's language (None: not known there)."""
    place_lemma: str | None = None
    """The lemma of its place reading (Geox) or, failing one, of its first inanimate noun reading:
    what a place is named by (Києві, Києва → київ; Харкові → харків, not the surname Харко)."""
    person: bool = False
    place: bool = False
    org: bool = False
    patr: bool = False
    first_name: bool = False
    inanimate: bool = False
    """Read as an inanimate noun (Київ, Оленівка: the Ukrainian dictionary has no place tag)."""
    common: bool = False
    """Known, and no reading is a proper name."""
    top_common: bool = False
    """Known, and its most probable reading is not a proper name (a sentence's first word)."""

    @property
    def unknown(self) -> bool:
        return not (self.person or self.place or self.org or self.common or self.inanimate)


_info_cache: dict[tuple[str, str], _WordInfo] = {}


def _classify(word: str, lang: str) -> _WordInfo:
    """What the dictionaries say of one capitalised word in ``lang``."""
    w = _fold(word)
    cached = _info_cache.get((w, lang))
    if cached is not None:
        return cached
    info = _WordInfo(w)
    if lang != "en" and is_cyrillic(w.replace("-", "")):
        if lang == "be":
            tries = [(_be_as_ru(w), "ru"), (w, "uk")]
        elif lang == "uk":
            tries = [(w, "uk"), (w.translate(_UK_TO_RU).replace("ъ", ""), "ru")]
        else:
            tries = [(w, "ru"), (w, "uk")]
        for i, (form, dl) in enumerate(tries):
            if (dl == "uk" and set(form) & set("ыэёъ")) or (dl == "ru" and set(form) & set("іїєґў'")):
                continue
            parses = _parses(form, dl)
            if not parses:
                continue
            own = i == 0 and lang != "be"
            if i == 0:
                info.top_common = not (parses[0][1] & (_PERSON_TAGS | {"Geox", "Orgn"}))
            for _nf, g in parses:
                if g & _PERSON_TAGS:
                    info.person = True
                    info.patr = info.patr or "Patr" in g
                    info.first_name = info.first_name or "Name" in g
                if "Geox" in g:
                    info.place = True
                if "Orgn" in g:
                    info.org = True
                if "NOUN" in g and "inan" in g and own:
                    info.inanimate = True
            if own and info.place_lemma is None:
                info.place_lemma = next(
                    (nf for nf, g in parses if "Geox" in g),
                    next((nf for nf, g in parses if "NOUN" in g and "inan" in g), None),
                )
            if own and info.lemma is None:
                info.lemma = parses[0][0]
                for nf, g in parses:  # the proper reading's lemma first
                    if g & (_PERSON_TAGS | {"Geox", "Orgn"}):
                        info.lemma = nf
                        break
            if not (info.person or info.place or info.org) and i == 0:
                info.common = not info.inanimate
            if lang in ("uk", "be") and i == 0 and not info.place and not info.first_name:
                ru_form = w.translate(_UK_TO_RU if lang == "uk" else _BE_TO_RU).replace("ъ", "")
                if not set(ru_form) & set("іїєґў'") and any("Geox" in g for _, g in _parses(ru_form, "ru")):
                    info.place, info.person = True, False
            break  # the first dictionary that knows the word decides
    if w.endswith(_BE_ADJ_PLURAL) and info.unknown:
        info.common = info.top_common = True
    if lang == "be":
        if w in _BE_PLACES:
            info.place, info.person, info.first_name, info.common = True, False, False, False
        elif w in _BE_NOT_NAMES or _be_adj_plural(w):
            info.person = info.place = info.first_name = info.patr = False
            info.common = info.top_common = True
    if len(_info_cache) > 200_000:
        _info_cache.clear()
    _info_cache[(w, lang)] = info
    return info


def _be_adj_plural(w: str) -> bool:
    """A Belarusian plural adjective or pronoun in -ыя/-ія (такія, новыя, якія): the Russian
    respelling with -ые/-ие reads as one (такие), where a name in -ія does not (Расія, Марыя)."""
    if not w.endswith(("ыя", "ія")) or len(w) < 4:
        return False
    ru = w[:-2].translate(_BE_TO_RU).replace("ъ", "") + ("ые" if w.endswith("ыя") else "ие")
    tags = [g for _, g in _parses(ru, "ru")]
    return bool(tags) and all(g & {"ADJF", "PRTF", "NPRO", "Apro"} for g in tags)


# -- keys ------------------------------------------------------------------------------------


def word_key(word: str, lemma: str | None = None) -> str:
    """The match key of one name word: the transliteration key of its dictionary lemma, or of
    its stem (one inflectional ending removed) when no dictionary knows it, so that inflected
    and differently spelt forms meet (Кадырова, Кадирові, Кадыраў, Kadyrov: ``~kadar``)."""
    w = _fold(lemma or word)
    if lemma is None and is_cyrillic(w.replace("-", "")):
        w = "-".join(be_stem(part) if len(part) > 4 else part for part in w.split("-"))
    keys = [k for part in w.split("-") if part for k in translit_keys(part)[:1]]
    return "".join(keys) if keys else "=" + w


def mention_key(etype: str, keys: list[str]) -> str:
    """The match key of a named mention from its words' keys. A person's words are sorted
    (Кадыров Рамзан is Рамзан Кадыров); a patronymic is left out by the caller."""
    if etype == "person":
        keys = sorted(set(keys))
    return etype + ":" + " ".join(keys)


def query_key(etype: str, text: str) -> str:
    """The key of a name typed in a filter (``person:"Кадырова"``), made like a mention's."""
    lang = _guess_lang(text)
    keys = []
    for m in _WORD.finditer(text):
        info = _classify(m.group(0), lang)
        if etype == "person" and info.patr and not info.first_name:
            continue
        keys.append(word_key(m.group(0), info.lemma))
    return mention_key(etype, keys)


def _guess_lang(text: str) -> str:
    t = text.casefold()
    if "ў" in t:
        return "be"
    if any(c in t for c in "іїєґ"):
        return "uk"
    if any("\u0400" <= c <= "\u04ff" for c in t):
        return "ru"
    return "en"


def display(words: list[str]) -> str:
    """Name words as displayed: each part capitalised (іван-франківськ → Іван-Франківськ)."""
    return " ".join("-".join(p[:1].upper() + p[1:] for p in w.split("-")) for w in words)


# -- extraction -----------------------------------------------------------------------------------


@dataclass
class _Tok:
    text: str
    start: int
    end: int
    sent_start: bool
    initial: bool = False
    """One capital letter followed by a full stop: an initial (І. П. Коваленко, Петров С. В.)."""


def _tokens(text: str) -> list[_Tok]:
    """Words with their spans; ``sent_start`` when a sentence (or line) begins before the word.
    A full stop after an abbreviation (с., вул., г., Mr.) or an initial does not end a sentence."""
    out: list[_Tok] = []
    for m in _WORD.finditer(text):
        word, end = m.group(0), m.end()
        if len(word) > 3 and word[-2:] in ("'s", "’s") and word[0] < "\u0400":
            word, end = word[:-2], end - 2  # Bolivia's → Bolivia
        if not out:
            sent_start = True
        else:
            gap = text[out[-1].end : m.start()]
            sent_start = bool(_SENT_BREAK.search(gap))
            if sent_start and gap.strip() == ".":
                p = _fold(out[-1].text)
                if p + "." in _PLACE_MARKERS or p + "." in _ABBREVIATIONS or len(out[-1].text) == 1:
                    sent_start = False
        initial = len(word) == 1 and word.isupper() and text[end : end + 1] == "."
        out.append(_Tok(word, m.start(), end, sent_start, initial))
    return out


_SENT_BREAK = re.compile(r"[.!?…]|\n")
_ABBREVIATIONS = frozenset(
    """
    г-н. г-жа. mr. mrs. ms. dr. st. ген. полк. им. ім. тел. т. д. инж. проф. акад.
    """.split()  # noqa: SIM905
)


_HAS_DIGIT = re.compile(r"\d")
_QUOTE_CHARS = '«"„“'
"""Every quotation mark that ``_QUOTED`` opens with: without one, neither quoted pattern matches."""


def _pattern_mentions(text: str) -> list[Mention]:
    # Cheap pre-filters that skip a pattern which cannot match (the regular expressions are most
    # of the cost of a passage's entities, tried at every position): an e-mail address needs
    # "@"; a unit name in quotes or a quoted organisation needs a quotation mark; every other
    # pattern (unit numbers, ordinals, document and passport numbers, phones) needs a digit.
    has_digit = _HAS_DIGIT.search(text) is not None
    has_quote = any(q in text for q in _QUOTE_CHARS)
    out: list[Mention] = []
    for m in _EMAIL.finditer(text) if "@" in text else ():
        out.append(
            Mention("email", m.start(), m.end(), m.group(0).casefold(), "email:" + m.group(0).casefold())
        )
    for m in _UNIT_NUMBER.finditer(text) if has_digit else ():
        norm = f"в/ч {m.group('num')}"
        out.append(Mention("org", m.start(), m.end(), norm, "org:unit " + m.group("num")))
    for rx in (_UNIT_QUOTED, _ORG_QUOTED) if has_quote else ():
        for m in rx.finditer(text):
            s = m.group(0)
            q = re.search(_QUOTED, s)
            name = q.group(0)[1:-1].strip() if q else s
            out.append(
                Mention(
                    "org",
                    m.start(),
                    m.end(),
                    _unit_norm(s),
                    "org:" + " ".join(word_key(w) for w in _WORD.findall(name)),
                )
            )
    for m in _UNIT_ORDINAL.finditer(text) if has_digit else ():
        s = m.group(0)
        unit_no = re.match(r"\d+", s)
        head = re.search(_UNIT_HEADS, s, re.IGNORECASE)
        if unit_no and head:
            key = f"org:unit {unit_no.group(0)} {word_key(head.group(0))[:4]}"
            out.append(Mention("org", m.start(), m.end(), s.strip(), key))
    for rx in (_PASSPORT, _DOCNUM) if has_digit else ():
        for m in rx.finditer(text):
            number = re.sub(r"[\s]", "", m.group("num")).upper()
            if sum(c.isdigit() for c in number) < 2 and rx is _DOCNUM:
                continue
            out.append(Mention("docnum", m.start("num"), m.end("num"), number, "docnum:" + number))
    for m in _PHONE.finditer(text) if has_digit else ():
        raw = m.group(0).strip()
        digits = re.sub(r"\D", "", raw)
        if not 7 <= len(digits) <= 15:
            continue
        bare = re.fullmatch(r"\d{1,2}[./]\d{1,2}[./]\d{2,4}|\d+", raw)
        # dates and bare numbers (years, amounts, case numbers) are not phones
        if bare and not (raw.startswith("+") or (len(digits) >= 10 and raw.startswith(("8", "0")))):
            continue
        if not (raw.lstrip().startswith("+") or "(" in raw or re.search(r"\d[\s.-]\d{2}[\s.-]\d{2}$", raw)):
            continue
        out.append(Mention("phone", m.start(), m.end(), digits, "phone:" + digits[-9:]))
    return out


def _unit_norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


_LIST_GAP = re.compile(r"\s*(?:,|;)?\s*(?:(?:и|і|й|та|да|ды|або|или|and|or)\s+)?", re.IGNORECASE)


def _agree_in_lists(text: str, mentions: list[Mention]) -> list[Mention]:
    """Names listed together are of one kind: in "Юты, Феникс, Флагстафф и Лас-Вегас" the
    guessed persons among places become places."""
    out = list(mentions)
    i = 0
    while i < len(out):
        j = i
        while j + 1 < len(out) and _LIST_GAP.fullmatch(text[out[j].end : out[j + 1].start]):
            j += 1
        group = out[i : j + 1]
        sure = Counter(m.type for m in group if not m.guessed)
        if len(group) > 1 and sure and any(m.guessed for m in group):
            kind = sure.most_common(1)[0][0]
            for n in range(i, j + 1):
                m = out[n]
                if m.guessed and kind != m.type:
                    out[n] = replace(m, type=kind, key=kind + ":" + m.key.partition(":")[2], guessed=False)
        i = j + 1
    return out


def _overlaps(a: tuple[int, int], taken: list[tuple[int, int]]) -> bool:
    return any(a[0] < e and s < a[1] for s, e in taken)


def extract_mentions(text: str, lang: str) -> list[Mention]:
    """Every mention found in one passage of language ``lang`` (ru, uk, be, en; any other code
    gets the pattern types and the language-independent rules), sorted by position."""
    if not text:
        return []
    found = _pattern_mentions(text)
    # longest first among overlapping pattern mentions
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Mention] = []
    taken: list[tuple[int, int]] = []
    for m in found:
        if not _overlaps((m.start, m.end), taken):
            kept.append(m)
            taken.append((m.start, m.end))
    kept.extend(
        m
        for m in _agree_in_lists(text, _named_mentions(text, lang))
        if not _overlaps((m.start, m.end), taken)
    )
    kept = [m for m in kept if m.end - m.start <= MAX_MENTION_CHARS and m.norm]
    kept.sort(key=lambda m: m.start)
    return kept[:MAX_MENTIONS_PER_PASSAGE]


def link_surnames(
    passages: list[list[tuple[str, int, int, str, str]]], documents: Sequence[object] | None = None
) -> list[list[tuple[str, int, int, str, str]]]:
    """Join a surname named alone to the full name it stands for in the same document: a person
    mention of one word (Коваленко) takes the key of the one full name of the document that ends
    in it (Петро Коваленко, Петра Коваленка); with two such names (Петро and Ганна Коваленко) or
    none it stays as it is. ``passages`` are the mention rows (type, start, end, display, key) of
    each passage; ``documents`` tells which document each passage is of (all one by default).
    The display form stays the surname's: it is kept as a spelling (alias) of the entity."""
    groups: dict[object, list[int]] = {}
    for i in range(len(passages)):
        groups.setdefault(documents[i] if documents is not None else None, []).append(i)
    out = [list(rows) for rows in passages]
    for idx in groups.values():
        full: dict[str, set[str]] = {}  # a surname's word key → the full names' keys ending in it
        for i in idx:
            for etype, _s, _e, norm, key in passages[i]:
                words = norm.split()
                parts = key.split(":", 1)[1].split()
                if etype != "person" or len(words) < 2 or len(parts) < 2:
                    continue
                last = words[-1].rstrip(".")
                for k in {word_key(last, last), word_key(last)} & set(parts):
                    full.setdefault(k, set()).add(key)
        if not full:
            continue
        for i in idx:
            for n, (etype, s, e, norm, key) in enumerate(out[i]):
                part = key.split(":", 1)[1]
                if etype == "person" and " " not in part and len(full.get(part, ())) == 1:
                    out[i][n] = (etype, s, e, norm, next(iter(full[part])))
    return out


def _named_mentions(text: str, lang: str) -> list[Mention]:
    toks = _tokens(text)
    out: list[Mention] = []
    i = 0
    n = len(toks)
    cand = _lowercase_names(toks, lang) if _lowercased(toks) else set()

    def cap(k: int) -> bool:
        return k in cand or _is_cap(toks[k].text)

    while i < n:
        t = toks[i]
        if not cap(i):
            i += 1
            continue
        # a run of capitalised words separated by spaces (or an initial: "А. С. Пушкин")
        j = i + 1
        while (
            j < n
            and cap(j)
            and not toks[j].sent_start
            and (
                _gap_ok(text[toks[j - 1].end : toks[j].start])
                or (toks[j - 1].initial and text[toks[j - 1].end : toks[j].start] in (". ", ".", ".\u00a0"))
            )
        ):
            j += 1
        prev = toks[i - 1] if i > 0 and not t.sent_start else None
        prev2 = toks[i - 2] if prev is not None and i > 1 and not prev.sent_start else None
        j = _lower_head(text, toks, i, j)
        j2 = _extend_org(text, toks, i, j, lang)
        nxt = toks[j] if j < n and not toks[j].sent_start else None
        if j2 <= j and _quoted(text, toks[i].start, toks[j - 1].end):
            # a name in quotation marks is a club's, a company's, a unit's or a paper's: «Клайд»
            run = toks[i:j]
            out.append(
                Mention(
                    "org",
                    run[0].start,
                    run[-1].end,
                    " ".join(t.text for t in run),
                    mention_key("org", [word_key(t.text) for t in run]),
                )
            )
            i = j
            continue
        for m in _classify_run(toks[i:j], prev, lang, nxt, toks[j:j2], prev2):
            if (
                m.type == "person"
                and text[m.end : m.end + 1] == "."
                and toks[j - 1].end == m.end
                and toks[j - 1].initial
            ):
                m = replace(m, end=m.end + 1)  # "Петров С. В.": the last initial's full stop
            out.append(m)
        i = max(j, j2)
    return out


_OPEN_QUOTES = "«\"„“'"
_CLOSE_QUOTES = "»\"“”'"


def _quoted(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is all that stands between a pair of quotation marks."""
    return (
        start > 0
        and text[start - 1] in _OPEN_QUOTES
        and end < len(text)
        and text[end] in _CLOSE_QUOTES
        and (text[end] != "'" or text[start - 1] == "'")
    )


def _lowercased(toks: list[_Tok]) -> bool:
    """Whether a passage is written in lower case (OCR or a careless transcript): three words or
    more, and not one sentence or line begins with a capital letter."""
    starts = [t for t in toks if t.sent_start]
    return len(toks) >= 3 and bool(starts) and not any(_is_cap(t.text) for t in toks)


def _lowercase_names(toks: list[_Tok], lang: str) -> set[int]:
    """In lower-cased text, the words that would have been capitalised: words the dictionaries read
    first as names or places (петренко, марія, іванівна, белгорода), words after a place marker
    or a title (м. суми, вул. соборній, свидетель абдулаев), and unknown words next to those."""
    out: set[int] = set()
    if lang not in ("ru", "uk", "be"):
        return out
    for k, t in enumerate(toks):
        w = t.text
        if len(w) < 3 or _is_stop(_fold(w)):
            continue
        info = _classify(w, lang)
        proper = (info.person or info.place) and not info.top_common
        prev = _fold(toks[k - 1].text) if k > 0 and not t.sent_start else ""
        after_marker = bool(prev) and (
            prev in _PLACE_MARKERS or prev + "." in _PLACE_MARKERS or _is_title(prev, lang)
        )
        own = _fold(w)
        if own in _PLACE_MARKERS or _is_title(own, lang):
            continue
        if proper or (after_marker and (info.unknown or info.inanimate)) or (k - 1 in out and info.person):
            out.add(k)
    return out


def _lower_head(text: str, toks: list[_Tok], i: int, j: int) -> int:
    """The end of a capitalised run that lower-case words complete into an organisation's name
    (up to two adjectives, then a head word: Верховного суда, Лейбарысцкай партыі)."""
    for k in range(j, min(j + 3, len(toks))):
        if _is_cap(toks[k].text) or toks[k].sent_start or not _gap_ok(text[toks[k - 1].end : toks[k].start]):
            return j
        f = _fold(toks[k].text)
        if _org_head(f) and not f.startswith(("news", "service")):
            return k + 1
        if _is_stop(f) or len(f) < 4 or not _ADJ_END.search(f):
            return j
    return j


_ADJ_END = re.compile(
    r"(?:[аяоеиыіу]я|[аяоеиыі]е|[оеиыі]й|[оеиыі]х|[иыі]м|[иыі]ми|[ое]го|[ое]му|ої|ую|юю|ай|ага|аму|ая)$"
)
"""Endings of adjectives (and participles) in ru/uk/be: only such words may stand between a name's
capitalised start and its lower-case head word."""


def _gap_ok(gap: str) -> bool:
    return gap in (" ", "\u00a0")


_EN_ORG_LINKS = frozenset({"of", "for", "and", "the", "on", "de"})


def _extend_org(text: str, toks: list[_Tok], i: int, j: int, lang: str) -> int:
    """Where an organisation name that starts with a head word (Министерство, Служба, Ministry)
    ends: lower-case words after it (обороны, безпеки) and one capitalised word after those
    (России, України), up to four words; ``j`` when the run has no head word."""
    if not any(_org_head(_fold(t.text)) for t in toks[i:j]):
        return j
    k = j
    while (
        k < len(toks)
        and k - j < 4
        and _gap_ok(text[toks[k - 1].end : toks[k].start])
        and not toks[k].sent_start
    ):
        w = toks[k].text
        f = _fold(w)
        if lang == "en":
            if f in _EN_ORG_LINKS and k + 1 < len(toks) and _is_cap(toks[k + 1].text):
                k += 2
                continue
            break
        if _is_cap(w):  # "… безпеки України": a place or an organisation ends the name, a person does not
            info = _classify(w, lang)
            if info.place or info.org or _is_acronym(w):
                k += 1
            break
        if _is_stop(f) or not _is_genitive_word(f, lang):
            break
        k += 1
    return k


def _is_genitive_word(word: str, lang: str) -> bool:
    if lang not in ("ru", "uk") or not is_cyrillic(word):
        return False
    return any("gent" in g and ("NOUN" in g or "ADJF" in g) for _, g in _parses(word, lang))


_EN_COMMON = frozenset(
    """
    the a an this that these those it he she they we you there here but and or if when while after
    before as at in on by for with from to of not no yes all some many most more one two three first
    last new old his her their our its my your what who why how which where however also today
    yesterday tomorrow according during since although because then now still even only just
    """.split()  # noqa: SIM905
)


def _is_stop(w: str) -> bool:
    from index.stopwords import is_stop_word

    return is_stop_word(w) or ("е" in w and is_stop_word(w.replace("е", "ё")))


def _classify_run(
    run: list[_Tok],
    prev: _Tok | None,
    lang: str,
    nxt: _Tok | None,
    org_tail: list[_Tok],
    prev2: _Tok | None = None,
    after_place: bool = False,
) -> list[Mention]:
    """The mentions of one run of capitalised words; ``after_place``: the run follows a place
    named in the same run ("Північної Кореї Рі Йон-Хо": the rest is the person of that place)."""
    prev_f = _fold(prev.text) if prev else ""
    prev2_f = _fold(prev2.text) if prev2 else ""
    # a title at the start of the run belongs before it: "General Shamanov", "Спадар Іван"
    titles = [n for n, t in enumerate(run[:-1]) if _is_title(_fold(t.text), lang)]
    if titles:  # "North Korean Foreign Minister Ri Yong-ho": the name follows the last title
        prev_f = _fold(run[titles[-1]].text).rstrip(".")
        run = run[titles[-1] + 1 :]
    if not run:
        return []
    if any(t.initial for t in run) and not all(t.initial for t in run):
        # initials and a surname: "І. П. Коваленко", "Петров С. В.", "T. Hnatiuk"
        core = [t for t in run if not t.initial]
        core_infos = [_classify(t.text, lang) for t in core]
        if len(core) == 1 and not _org_head(core_infos[0].word) and not core_infos[0].common:
            keys = [word_key(t.text, x.lemma) for t, x in zip(core, core_infos, strict=True)]
            shown = [
                t.text if t.initial else (x.lemma if x.lemma and not x.common else t.text)
                for t, x in zip(run, [_classify(t.text, lang) for t in run], strict=True)
            ]
            return [
                Mention(
                    "person",
                    run[0].start,
                    run[-1].end,
                    " ".join(w + "." if t.initial else display([w]) for t, w in zip(run, shown, strict=True)),
                    mention_key("person", keys or ["="]),
                )
            ]
    infos = [_classify(t.text, lang) for t in run]
    folded = [x.word for x in infos]
    article = prev_f == "the" or folded[0] == "the"  # "the Sky Blues", "The Elvie Pump": no person
    # a sentence-initial common word is not part of a name ("Вчера Иванов ..." → drop "Вчера")
    while (
        run
        and run[0].sent_start
        and not _is_acronym(run[0].text)
        and (
            infos[0].top_common
            or (lang == "en" and (folded[0] in _EN_COMMON or _is_stop(folded[0])))
            or _is_stop(folded[0])
        )
    ):
        run, infos, folded = run[1:], infos[1:], folded[1:]
        prev_f = ""
    if not run:
        return []
    marker_before = prev_f in _PLACE_MARKERS or prev_f + "." in _PLACE_MARKERS
    title_before = bool(prev_f) and _is_title(prev_f, lang)
    loc_before = prev_f in _LOC_PREPS
    nxt_f = _fold(nxt.text) if nxt else ""
    keys = [word_key(t.text, x.lemma) for t, x in zip(run, infos, strict=True)]
    shown = [x.lemma if x.lemma and not x.common else t.text for t, x in zip(run, infos, strict=True)]
    pshown = [x.place_lemma or s for x, s in zip(infos, shown, strict=True)]
    pkeys = [
        word_key(t.text, x.place_lemma) if x.place_lemma else k
        for t, x, k in zip(run, infos, keys, strict=True)
    ]
    if len(run) == 1 and _is_acronym(run[0].text):
        w = run[0].text
        if w.upper() in _ACRONYM_PLACES:
            return [_mention("place", run, [w], keys)]
        if len(w) >= 3 or lang != "en":
            return [_mention("org", run, [w], keys)]
        return []
    if len(run) >= 2 and _is_acronym(run[0].text) and not _is_acronym(run[1].text):
        # an acronym before a name is its own mention: "ЗША Дональда Трампа", "НАТО Македонии"
        return [
            *_classify_run(run[:1], prev, lang, run[1], [], prev2),
            *_classify_run(run[1:], None, lang, nxt, org_tail),
        ]
    if len(run) == 1 and (folded[0] in _EN_NOT_NAMES or folded[0] in _RU_NOT_NAMES):
        return []
    if all(len(t.text) == 1 for t in run):
        return []
    if any(_org_head(f) for f in folded) and not marker_before:
        whole = run + org_tail
        return [
            Mention(
                "org",
                whole[0].start,
                whole[-1].end,
                " ".join(t.text for t in whole),
                mention_key("org", [word_key(t.text, _classify(t.text, lang).lemma) for t in whole]),
            )
        ]
    if marker_before and len(run) >= 2 and nxt_f in _PLACE_SUFFIX_WORDS:
        # "с. Мотижин Київської області": the village, then its region
        return [
            _mention("place", run[:-1], pshown[:-1], pkeys[:-1]),
            _mention("place", run[-1:], pshown[-1:], pkeys[-1:]),
        ]
    if marker_before or (nxt_f in _PLACE_SUFFIX_WORDS and len(run) <= 2):
        return [_mention("place", run, pshown, pkeys)]
    latin = not any(is_cyrillic(x.word.replace("-", "")) for x in infos)
    if lang == "en":
        context = _EnContext(prev_f, prev2_f, nxt_f, title_before, loc_before, article)
        return _classify_latin(run, folded, keys, context)
    if latin:  # a Latin name in Cyrillic text: mostly a company, club, paper or programme
        if article:  # "The Rachel Maddow Show": a programme's, a paper's or a band's name
            return [_mention("org", run, [t.text for t in run], keys)]
        if all(f in _EN_PLACES for f in folded):
            return [_mention("place", run, [t.text for t in run], keys)]
        if title_before or any(
            f in _EN_FIRST_NAMES or _latin_tags(t.text)[1] or _slavic_suffix(f) == "person"
            for t, f in zip(run, folded, strict=True)
        ):  # a transliterated person's name: "Журналіст Oleksandr Shevchuk", "Kovalenko"
            return [_mention("person", run, [t.text for t in run], keys)]
        return [_mention("org", run, [t.text for t in run], keys)]
    persons = [x.person for x in infos]
    places = [
        x.place
        or (
            lang == "uk"
            and x.inanimate
            and not x.person
            and not t.sent_start
            and (len(run) == 1 or x.word != x.place_lemma)  # "Люк Уолтон": a first name, not a place
        )
        for t, x in zip(run, infos, strict=True)
    ]  # the Ukrainian dictionary has no place tag: a capitalised inanimate noun mid-sentence
    #    (Німеччини, Великобританії, Аризони) is a place
    if after_place and not any(x.place or x.org for x in infos) and not any(_org_head(f) for f in folded):
        return [_person(run, infos, keys, shown, lang)]  # "міністр Північної Кореї Рі Йон-Хо"
    if prev_f in _IN_PREPS.get(lang, ()) and len(run) == 1:
        return [_mention("place", run, pshown, pkeys)]  # "в Самашках", "у Бучі": a place, not a Самашко
    if (
        len(run) == 1
        and not run[0].sent_start
        and not loc_before
        and not (infos[0].place or infos[0].person or infos[0].org)
        and lang in ("ru", "be")
        and not _is_title(folded[0], lang)
        and nxt is not None
        and _is_verb(nxt_f, lang)
    ):  # a capitalised common word mid-sentence, subject of a verb: a surname ("именно Стерлинг дал")
        return [_person(run, infos, keys, [run[0].text])]
    if loc_before and len(run) <= 2 and (any(places) or any(x.inanimate for x in infos)):
        return [_mention("place", run, pshown, pkeys)]
    place_block = 0
    while place_block < len(run) and (places[place_block] or folded[place_block].startswith(_PLACE_PREFIXES)):
        place_block += 1
    if 0 < place_block < len(run) and places[place_block - 1]:
        # a place and a name side by side: "Северной Кореи Ри Юн Хо"
        head = _mention("place", run[:place_block], pshown[:place_block], pkeys[:place_block])
        owned = _genitive_place(folded[place_block - 1], lang)  # "Кореї Рі Йон-Хо", not "Скай Блюз"
        return [head, *_classify_run(run[place_block:], None, lang, nxt, org_tail, after_place=owned)]
    if len(run) >= 2 and folded[0].startswith(_PLACE_PREFIXES):
        return [_mention("place", run, pshown, pkeys)]  # Западная Вирджиния, Соединенных Штатов
    if any(places) and not any(x.first_name for x in infos):
        return [_mention("place", run, pshown, pkeys)]  # Северной Кореи
    if any(persons) and sum(persons) >= sum(places):
        return [_person(run, infos, keys, shown, lang)]
    if any(places):
        return [_mention("place", run, pshown, pkeys)]
    if all(x.org for x in infos):
        return [_mention("org", run, shown, keys)]
    if title_before:
        return [_person(run, infos, keys, shown, lang)]
    if all(x.unknown for x in infos):
        # unknown capitalised words: a place after a locative preposition, else a person's name
        if loc_before:
            return [_mention("place", run, pshown, pkeys)]
        if (
            run[0].sent_start
            and len(run) == 1
            and not (nxt is not None and _is_verb(nxt_f, lang))
            and not (len(folded[0]) >= 5 and folded[0].endswith(_SURNAME_ENDINGS))
        ):  # a sentence's first word is a name when a verb follows it ("Росс утверждает") or
            return []  # when it ends as a surname does (Коваленко, Каліноўскі)
        return [replace(_person(run, infos, keys, shown), guessed=True)]
    return []


@functools.lru_cache(maxsize=50_000)
def _genitive_place(word: str, lang: str) -> bool:
    """Whether a place's name is in an oblique case only (Кореї, Вялікабрытаніі, not Скай, Гендон):
    a name right after it is most often that place's person (its minister, its president)."""
    if not is_cyrillic(word.replace("-", "")):
        return False
    form, dl = (_be_as_ru(word), "ru") if lang == "be" else (word, lang if lang in ("ru", "uk") else "ru")
    tags = [g for _, g in _parses(form, dl) if "NOUN" in g and "plur" not in g]  # names: singular
    return bool(tags) and all("nomn" not in g and "accs" not in g for g in tags)


def _is_verb(word: str, lang: str) -> bool:
    """Whether a lower-case word reads only as a finite verb (or a short participle)."""
    if lang == "en":
        return word in _EN_SAYING
    if not is_cyrillic(word):
        return False
    if lang in ("uk", "be") and word in _SAYING:
        return True
    if lang == "be" and word.endswith(("ў", "ўся")) and len(word) > 3:
        # the Belarusian past tense in -ў is the Russian one in -л (заявіў → заявил)
        word = word[: word.rindex("ў")] + "л" + word[word.rindex("ў") + 1 :]
    form, dl = (_be_as_ru(word), "ru") if lang == "be" else (word, lang if lang in ("ru", "uk") else "ru")
    parses = _parses(form, dl)
    return bool(parses) and all("VERB" in g for _, g in parses)


_EN_PLACE_HEADS = frozenset(
    """
    terrace street road avenue square lane city county island islands mountains mountain river valley
    sea ocean bay lake park province state region district village airport bridge
    """.split()  # noqa: SIM905
)
_EN_PLACE_FIRST = frozenset(
    [
        "north",
        "south",
        "east",
        "west",
        "new",
        "united",
        "central",
        "northern",
        "southern",
        "eastern",
        "western",
    ]
)


_EN_DIRECTIONS = frozenset(
    """
    northern southern eastern western central northeastern northwestern southeastern southwestern
    north-eastern north-western south-eastern south-western
    """.split()  # noqa: SIM905
)
"""Lower-case words before a place's name: "western Arizona", "southeastern California"."""
_EN_PLACE_NOUNS = frozenset(
    """
    city cities town towns village villages area areas region regions state states province
    provinces county counties district districts capital island islands republic territory
    territories suburb suburbs outskirts port
    """.split()  # noqa: SIM905
)
"""Lower-case nouns that name the kind of place: "the towns of Donggala", "Palu city"."""


_EN_SAYING = frozenset(
    """
    said says told tells was is has had will would added wrote argued claimed denied insisted
    announced stated testified recalled explained admitted
    """.split()  # noqa: SIM905
)
"""Verbs that make a sentence's first capitalised word its subject, a person (Flake was …)."""


@dataclass(frozen=True)
class _EnContext:
    """The lower-case words around a capitalised run of English text."""

    prev: str
    prev2: str
    nxt: str
    title_before: bool
    loc_before: bool
    article: bool = False
    """"the" stands before the run: a thing's, a team's or a programme's name, not a person's."""


_LAT_DIGRAPHS = (
    ("shch", "щ"), ("sh", "ш"), ("ch", "ч"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ph", "ф"),
    ("th", "т"), ("ya", "я"), ("yu", "ю"), ("ck", "к"), ("ee", "и"), ("oo", "у"), ("ou", "у"),
)  # fmt: skip
_LAT_LETTERS = str.maketrans(
    {
        "a": "а", "b": "б", "c": "к", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и",
        "j": "дж", "k": "к", "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "q": "к", "r": "р",
        "s": "с", "t": "т", "u": "у", "v": "в", "w": "в", "x": "кс", "y": "и", "z": "з",
    }
)  # fmt: skip


def _latin_to_cyrillic(word: str) -> str:
    """A rough Russian spelling of a Latin word (Arizona → Аризона, Bolivia → Боливия), to ask
    the Russian dictionary whether it knows the word as a place or a first name."""
    w = word.lower()
    if w.endswith("ia"):
        w = w[:-2] + "ия"
    for lat, cyr in _LAT_DIGRAPHS:
        w = w.replace(lat, cyr)
    return w.translate(_LAT_LETTERS)


@functools.lru_cache(maxsize=100_000)
def _latin_tags(word: str) -> tuple[bool, bool]:
    """(place, first name): whether the Russian dictionary knows the word's Cyrillic spelling as a
    place (Geox) or a first name (Name) — and as nothing that is not a proper name."""
    if not word.isalpha() or len(word) < 4:
        return False, False
    parses = _parses(_latin_to_cyrillic(word), "ru")
    if not parses or not all(g & (_PERSON_TAGS | {"Geox", "Orgn"}) for _, g in parses):
        return False, False
    return any("Geox" in g for _, g in parses), any("Name" in g for _, g in parses)


_EN_FIRST_NAMES = frozenset(
    """
    james john robert michael william david richard joseph thomas charles christopher daniel matthew
    anthony mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward
    jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin
    samuel frank gregory raymond alexander patrick jack dennis jerry tyler aaron jose adam henry
    nathan douglas zachary peter kyle walter ethan jeremy harold keith christian roger noah gerald
    carl terry sean austin arthur lawrence jesse dylan bryan joe jordan billy bruce albert willie
    gabriel logan alan juan wayne roy ralph randy eugene vincent russell elijah louis bobby philip
    johnny luke boris vladimir sergei sergey dmitry dmitri ivan oleg igor andriy andrii oleksandr
    oleksiy mykola mykhailo volodymyr yuriy yuri taras bohdan petro pavlo vasyl viktor maksym
    mary patricia jennifer linda elizabeth barbara susan jessica sarah karen nancy lisa betty
    margaret sandra ashley kimberly emily donna michelle dorothy carol amanda melissa deborah
    stephanie rebecca sharon laura cynthia kathleen amy shirley angela helen anna brenda pamela
    nicole emma samantha katherine christine debra rachel catherine carolyn janet ruth maria heather
    diane virginia julie joyce victoria olivia kelly christina lauren joan evelyn judith megan
    cheryl andrea hannah martha jacqueline frances gloria ann teresa kathryn sara janice jean alice
    madison doris abigail julia judy grace denise amber marilyn beverly danielle theresa sophia
    marie diana brittany natalie isabella charlotte rose alexis kayla olena olha oksana iryna
    tetiana natalia yulia svetlana svitlana tatiana elena alla larysa lyudmila liudmyla hanna
    """.split()  # noqa: SIM905
)
"""Common English and East Slavic first names in Latin letters: a run that starts with one is a
person for sure (the Russian-dictionary look-up of ``_latin_tags`` misses many)."""


_SLAVIC_PLACE_ENDINGS = (
    "sk", "ivka", "ivske", "pil", "hrad", "horod", "gorod", "grad", "ivtsi", "ськ", "ск", "івка",
    "івці", "піль", "поль", "град", "город",
)  # fmt: skip


def _slavic_suffix(folded: str) -> str:
    """What the ending of an unknown East Slavic name in Latin or Cyrillic letters suggests:
    ``person`` (Kovalchuk, Bondarenko, Hnatiuk), ``place`` (Kupiansk, Balakliia is not, Hostomel is
    not: only -sk, -ivka, -pil, -hrad… endings) or ``""``."""
    if len(folded) < 5:
        return ""
    if folded.endswith(("enko", "chuk", "czuk", "yuk", "iuk", "енко", "чук", "юк", "вич", "vich", "vych")):
        return "person"
    if folded.endswith(_SLAVIC_PLACE_ENDINGS):
        return "place"
    return ""


def _classify_latin(run: list[_Tok], folded: list[str], keys: list[str], ctx: _EnContext) -> list[Mention]:
    words = [t.text for t in run]
    if folded[-1].rstrip(".") in _TITLES:
        return []  # "Democratic Sen.": the name follows the title
    tags = [_latin_tags(w) for w in words]
    if (
        all(f in _EN_PLACES or tag[0] for f, tag in zip(folded, tags, strict=True))
        or (len(run) >= 2 and (folded[-1] in _EN_PLACE_HEADS or folded[0] in _EN_PLACE_FIRST))
        or (not ctx.title_before and ctx.prev in _EN_DIRECTIONS)
        or (not ctx.title_before and ctx.prev == "of" and ctx.prev2 in _EN_PLACE_NOUNS)
        or (len(run) <= 2 and ctx.nxt in _EN_PLACE_NOUNS)
    ):
        return [_mention("place", run, words, keys)]
    title_before, loc_before = ctx.title_before, ctx.loc_before
    named = title_before or tags[0][1] or folded[0] in _EN_FIRST_NAMES
    if ctx.article and not title_before:
        return []
    if len(run) == 1 and not title_before and _slavic_suffix(folded[0]) == "place":
        return [_mention("place", run, words, keys)]  # Kupiansk, Hostomel… -sk, -ivka, -pil
    if len(run) == 1 and _slavic_suffix(folded[0]) == "person":
        return [_mention("person", run, words, keys)]  # Kovalchuk, Bondarenko: sure surnames
    if len(run) == 1 and (
        folded[0].endswith(("ans", "ists", "ites", "ics")) or re.fullmatch(r"[A-Z]+s", words[0])
    ):
        return []  # Republicans, Eurosceptics, MPs: groups, not names
    if folded[0].startswith("i'"):
        return []
    if len(run) >= 2 and loc_before and not named and ctx.prev != "from":
        return [_mention("place", run, words, keys)]  # "born in Bila Tserkva": no first name, a place
    if title_before or len(run) >= 2:  # a person: sure after a title or a known first name
        return [replace(_mention("person", run, words, keys), guessed=not named)]
    if loc_before:
        return [_mention("place", run, words, keys)]
    if run[0].sent_start and ctx.nxt not in _EN_SAYING:
        return []
    return [replace(_mention("person", run, words, keys), guessed=True)]


_CASES = frozenset({"nomn", "gent", "datv", "accs", "ablt", "loct", "voct", "gen2", "loc2", "acc2"})
_GENDERS = frozenset({"masc", "femn", "neut"})


@functools.lru_cache(maxsize=50_000)
def _agreed_lemmas(words: tuple[str, ...], lang: str) -> tuple[str | None, ...]:
    """The nominative of each word of a person's name read together: the case and gender every
    word can share (Петра Коваленка: masculine genitive → Петро Коваленко, not the woman's name
    Петра), the nominative first (Петро Коваленко stays so), a first name before a surname
    (Петрові Коваленкові → Петро, not the surname Петров). None where no agreement is found."""
    if lang not in ("ru", "uk") or len(words) < 2:
        return (None,) * len(words)
    from index.morph import _morph

    m = _morph(lang)
    readings: list[list[tuple[str, frozenset[str]]]] = []
    for w in words:
        rs: list[tuple[str, frozenset[str]]] = []
        for p in m.parse(_fold(w)):
            g = frozenset(p.tag.grammemes)
            if type(p.methods_stack[0][0]).__name__ != "DictionaryAnalyzer" or not (
                g & _PERSON_TAGS and g & _CASES
            ):
                continue
            nom = p.inflect({"nomn", "sing"})  # keeps the gender: Ивановой → Иванова, not Иванов
            rs.append((nom.word if nom is not None else p.normal_form, g))
        readings.append(rs)
    if any(not r for r in readings):
        return (None,) * len(words)
    first = sorted(readings[0], key=lambda r: ("nomn" not in r[1], "Name" not in r[1], "Fixd" in r[1]))
    for nf0, g0 in first:
        case, gender = g0 & _CASES, g0 & _GENDERS
        picked: list[str | None] = [nf0]
        for rs in readings[1:]:
            nf = next(
                (
                    nf
                    for nf, g in rs
                    if g & _CASES == case and (not gender or not g & _GENDERS or g & _GENDERS == gender)
                ),
                None,
            )
            if nf is None:
                break
            picked.append(nf)
        else:
            return tuple(picked)
    return (None,) * len(words)


def _person(
    run: list[_Tok], infos: list[_WordInfo], keys: list[str], shown: list[str], lang: str = ""
) -> Mention:
    agreed = _agreed_lemmas(tuple(t.text for t in run), lang)
    shown = [a or s for a, s in zip(agreed, shown, strict=True)]
    key_words = [k for k, x in zip(keys, infos, strict=True) if not (x.patr and not x.first_name)]
    return Mention(
        "person", run[0].start, run[-1].end, display(shown), mention_key("person", key_words or keys)
    )


def _mention(etype: str, run: list[_Tok], shown: list[str], keys: list[str]) -> Mention:
    norm = " ".join(shown) if all(w.isupper() for w in shown) else display(shown)
    return Mention(etype, run[0].start, run[-1].end, norm, mention_key(etype, keys))
