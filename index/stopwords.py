"""Function words of Russian, Ukrainian, Belarusian and English, ignored in ranked word lists.

Only closed word classes are listed: prepositions, conjunctions, particles, pronouns and
pronominal question words, and the forms of "to be". No noun, adjective or content verb is here,
because in an archive such a word can be exactly what a researcher looks for (the published
lists of some libraries hold "деньги", "земля" or "Москва"). The words are compared after
:func:`index.analysis.fold` (lower case, ё→е, apostrophes unified).

The lists are applied at query time only (see ``ArchiveService``): the index keeps every word, so
phrases ("Верховний суд України"), proximity queries and a query made only of function words
still work exactly.
"""

from __future__ import annotations

_RU = """
а без более бы был была были было быть в вам вас весь во вот все всего всей всем всех всю вся
всё вы где да даже для до его ее если есть еще её ещё же за зачем здесь и из или им ими их к
как какая какие каким какими каких какое какой какую ко когда кого кому которая которого которое
которой котором которую которые который которых кто куда ли либо между меня мне мной мною мы на
над нам нами нас не него нее неё ней нем нет ни нибудь ним ними них но ну о об однако он она они
оно от откуда перед по под при про с себе себя сколько со так также там те тем теми тех то тобой
тобою того тогда той только том тому тот тою ту тут ты у уж уже чего чей чем чему что чтобы чтоб
чье чьё чьи чья эта эти этим этими этих это этого этой этом этому этот эту я являются является
"""

_UK = """
а або але б би бо був буде будуть була були було бути в вам вас вже ви від вона вони воно все
всі всього всіх де для до же ж з за зі змогу й його ж і із їй їм їх її як яка які яким якими
яких який якого якої якому якою яке якщо коли котра котре котрий котрі котрого котрої хто куди
ли лише мене мені ми мною на над нам нами нас не нею ним ними них ні ну о об от перед по під при
про саме себе собі та так також там те теж ти тим тими тих то тобі тобою того той тому ту тут у
усі хоч хоча це цей цим цими цих цього цієї ця ці чи чий чия чиє чиї чим чого чому що щоб я є
звідки навіщо скільки тільки навіть ще
"""

_BE = """
а або але б бо бы быў была былі было быць будзе будуць в вам вас вы ад ён яна яно яны яго яе іх
ім ёй ёсць гэта гэтага гэтай гэтым гэтых гэты гэтая гэтае гэтыя да для дзе ды жа ж з за і й
калі каб куды хто што які якая якое якія якога якой якім якіх як мне мяне мы на над нам нас не
ні па пад пры пра праз паміж перад сабе сябе са так таксама там той тая тое тыя таго тым тых ты
тут у ў ужо ўжо ці цi чаму чый чыя чыё чые чым чаго я яшчэ толькі нават адкуль навошта колькі
"""

_EN = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over
own same she should so some such than that the their theirs them themselves then there these
they this those through to too under until up very was we were what when where which while who
whom why will with would you your yours yourself yourselves
"""

STOP_WORDS: dict[str, frozenset[str]] = {
    # ё folded to е as ``fold`` does, so that ён, ёсць and ёй are found as the query gives them
    lang: frozenset(w.replace("ё", "е") for w in text.split())
    for lang, text in (("ru", _RU), ("uk", _UK), ("be", _BE), ("en", _EN))
}
ALL_STOP_WORDS: frozenset[str] = frozenset().union(*STOP_WORDS.values())


def is_stop_word(folded: str) -> bool:
    """Whether a folded word is a function word of any of the four languages."""
    return folded in ALL_STOP_WORDS
