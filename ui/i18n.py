"""Interface languages: message catalogs (uk, ru, en), language negotiation, dates and numbers.

Messages are plain dicts, one per language, keyed by a short English id; a test checks that every
language has every key. Dates, times and numbers are formatted by Babel (CLDR data) for the
interface language, so ``1234`` reads ``1 234`` in Ukrainian and ``1,234`` in English.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

UI_LANGUAGES: Final[tuple[str, ...]] = ("uk", "ru", "en")
DEFAULT_LANGUAGE: Final = "en"
LANG_COOKIE: Final = "archive_lang"
# English dates the British way ("24 February 2024"): day first, as in the other languages
BABEL_LOCALES: Final[dict[str, str]] = {"en": "en_GB"}

# The name of each interface language in itself, for the switcher.
NATIVE_NAMES: Final[dict[str, str]] = {"uk": "Українська", "ru": "Русский", "en": "English"}

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "app_name": "Archive search",
        "skip_to_content": "Skip to content",
        "interface_language": "Interface language",
        "signed_in_as": "Signed in as {user}",
        "log_in": "Log in",
        "log_out": "Log out",
        "login_title": "Log in to the archive",
        "username": "User name",
        "password": "Password",
        "login_failed": "Wrong user name or password.",
        "login_rate_limited": "Too many failed attempts. Try again in {seconds} seconds.",
        "login_rate_limited_later": "Too many failed attempts. Try again later.",
        "login_needed": "Please log in to continue.",
        "logged_out": "You have been logged out.",
        "csrf_failed": "The form has expired or did not come from this site. Please try again.",
        "search": "Search",
        "search_label": "Search the archive",
        "search_placeholder": 'Words, "a phrase", prefix*, lang:uk …',
        "query_help": "Query language",
        "query_help_words": "passages with any of the words, best matches first",
        "query_help_required": "the word must occur",
        "query_help_excluded": "the word must not occur",
        "query_help_or": "either word",
        "query_help_phrase": "the exact phrase",
        "query_help_proximity": "the words within 5 positions of each other",
        "query_help_prefix": "words starting with …",
        "query_help_filters": "filters (also in the side panel)",
        "mode": "Search mode",
        "mode_hybrid": "Hybrid",
        "mode_keyword": "Keyword",
        "mode_semantic": "Semantic",
        "mode_fallback": "Semantic search is not available here; showing keyword results.",
        "filters": "Filters",
        "apply_filters": "Apply filters",
        "clear_filters": "Clear all filters",
        "facet_lang": "Language",
        "facet_collection": "Collection",
        "facet_type": "Type",
        "facet_tag": "Tags",
        "facet_dates": "Document date",
        "date_from": "From",
        "date_to": "To",
        "no_values": "none",
        "type_pdf": "PDF",
        "type_scan": "Scan",
        "type_text": "Text",
        "type_transcript": "Transcript",
        "lang_other": "Other",
        "results_count": "{count} results",
        "results_one": "1 result",
        "results_time": "in {ms} ms",
        "no_results": "Nothing found. Try fewer words, a prefix (word*) or another mode.",
        "results": "Results",
        "start_hint": "Type words to search the documents you have access to.",
        "your_collections": "Your collections",
        "collection_documents": "{count} documents",
        "no_collections": "You do not have access to any collection yet. Ask an administrator.",
        "file": "File",
        "page": "Page",
        "page_n": "Page {n}",
        "time": "Time",
        "speaker": "Speaker",
        "language": "Language",
        "collection": "Collection",
        "type": "Type",
        "pagination": "Result pages",
        "previous": "Previous",
        "next": "Next",
        "page_of": "Page {page} of {pages}",
        "search_error": "The search could not be run: {message}",
        "document": "Document",
        "metadata": "Metadata",
        "file_name": "File name",
        "sha256": "SHA-256",
        "size": "Size",
        "size_bytes": "{size} bytes",
        "mime": "Format",
        "pages": "Pages",
        "passages": "Passages",
        "doc_date": "Date",
        "added": "Added",
        "download_original": "Download the original",
        "back_to_results": "Back to the results",
        "text_by_page": "Extracted text",
        "transcript": "Transcript",
        "go_to_passage": "Go to the found passage",
        "found_passage": "Found passage",
        "page_image": "Page image",
        "show_page_image": "Show the page image",
        "ocr_confidence": "OCR, confidence {value} %",
        "no_text": "No text was extracted from this document.",
        "not_found_title": "Not found",
        "not_found": "This page does not exist, or you do not have access to it.",
        "error_title": "Something went wrong",
        "forbidden_title": "Not allowed",
        "more_in_document": "Also in this document",
        "passage_link": "passage",
        "years": "By year",
    },
    "uk": {
        "app_name": "Пошук в архіві",
        "skip_to_content": "Перейти до змісту",
        "interface_language": "Мова інтерфейсу",
        "signed_in_as": "Ви увійшли як {user}",
        "log_in": "Увійти",
        "log_out": "Вийти",
        "login_title": "Вхід до архіву",
        "username": "Ім'я користувача",
        "password": "Пароль",
        "login_failed": "Неправильне ім'я користувача або пароль.",
        "login_rate_limited": "Забагато невдалих спроб. Спробуйте знову через {seconds} с.",
        "login_rate_limited_later": "Забагато невдалих спроб. Спробуйте пізніше.",
        "login_needed": "Увійдіть, щоб продовжити.",
        "logged_out": "Ви вийшли з системи.",
        "csrf_failed": "Форма застаріла або надіслана не з цього сайту. Спробуйте ще раз.",
        "search": "Шукати",
        "search_label": "Пошук в архіві",
        "search_placeholder": 'Слова, "фраза", префікс*, lang:uk …',
        "query_help": "Мова запитів",
        "query_help_words": "фрагменти з будь-яким зі слів, найкращі — першими",
        "query_help_required": "слово обов'язкове",
        "query_help_excluded": "слова не повинно бути",
        "query_help_or": "будь-яке з двох слів",
        "query_help_phrase": "точна фраза",
        "query_help_proximity": "слова на відстані до 5 позицій",
        "query_help_prefix": "слова, що починаються з …",
        "query_help_filters": "фільтри (також на бічній панелі)",
        "mode": "Режим пошуку",
        "mode_hybrid": "Гібридний",
        "mode_keyword": "За словами",
        "mode_semantic": "Семантичний",
        "mode_fallback": "Семантичний пошук тут недоступний; показано результати пошуку за словами.",
        "filters": "Фільтри",
        "apply_filters": "Застосувати фільтри",
        "clear_filters": "Скинути всі фільтри",
        "facet_lang": "Мова",
        "facet_collection": "Колекція",
        "facet_type": "Тип",
        "facet_tag": "Теги",
        "facet_dates": "Дата документа",
        "date_from": "Від",
        "date_to": "До",
        "no_values": "немає",
        "type_pdf": "PDF",
        "type_scan": "Скан",
        "type_text": "Текст",
        "type_transcript": "Стенограма",
        "lang_other": "Інша",
        "results_count": "Результатів: {count}",
        "results_one": "1 результат",
        "results_time": "за {ms} мс",
        "no_results": "Нічого не знайдено. Спробуйте менше слів, префікс (слово*) або інший режим.",
        "results": "Результати",
        "start_hint": "Введіть слова, щоб шукати в доступних вам документах.",
        "your_collections": "Ваші колекції",
        "collection_documents": "Документів: {count}",
        "no_collections": "У вас ще немає доступу до жодної колекції. Зверніться до адміністратора.",
        "file": "Файл",
        "page": "Сторінка",
        "page_n": "Сторінка {n}",
        "time": "Час",
        "speaker": "Мовець",
        "language": "Мова",
        "collection": "Колекція",
        "type": "Тип",
        "pagination": "Сторінки результатів",
        "previous": "Попередня",
        "next": "Наступна",
        "page_of": "Сторінка {page} з {pages}",
        "search_error": "Не вдалося виконати пошук: {message}",
        "document": "Документ",
        "metadata": "Метадані",
        "file_name": "Назва файлу",
        "sha256": "SHA-256",
        "size": "Розмір",
        "size_bytes": "{size} байтів",
        "mime": "Формат",
        "pages": "Сторінок",
        "passages": "Фрагментів",
        "doc_date": "Дата",
        "added": "Додано",
        "download_original": "Завантажити оригінал",
        "back_to_results": "Назад до результатів",
        "text_by_page": "Видобутий текст",
        "transcript": "Стенограма",
        "go_to_passage": "Перейти до знайденого фрагмента",
        "found_passage": "Знайдений фрагмент",
        "page_image": "Зображення сторінки",
        "show_page_image": "Показати зображення сторінки",
        "ocr_confidence": "OCR, впевненість {value} %",
        "no_text": "З цього документа не видобуто тексту.",
        "not_found_title": "Не знайдено",
        "not_found": "Такої сторінки немає, або у вас немає до неї доступу.",
        "error_title": "Сталася помилка",
        "forbidden_title": "Заборонено",
        "more_in_document": "Також у цьому документі",
        "passage_link": "фрагмент",
        "years": "За роками",
    },
    "ru": {
        "app_name": "Поиск по архиву",
        "skip_to_content": "Перейти к содержанию",
        "interface_language": "Язык интерфейса",
        "signed_in_as": "Вы вошли как {user}",
        "log_in": "Войти",
        "log_out": "Выйти",
        "login_title": "Вход в архив",
        "username": "Имя пользователя",
        "password": "Пароль",
        "login_failed": "Неверное имя пользователя или пароль.",
        "login_rate_limited": "Слишком много неудачных попыток. Повторите через {seconds} с.",
        "login_rate_limited_later": "Слишком много неудачных попыток. Повторите позже.",
        "login_needed": "Войдите, чтобы продолжить.",
        "logged_out": "Вы вышли из системы.",
        "csrf_failed": "Форма устарела или отправлена не с этого сайта. Попробуйте ещё раз.",
        "search": "Найти",
        "search_label": "Поиск по архиву",
        "search_placeholder": 'Слова, "фраза", префикс*, lang:ru …',
        "query_help": "Язык запросов",
        "query_help_words": "фрагменты с любым из слов, лучшие — первыми",
        "query_help_required": "слово обязательно",
        "query_help_excluded": "слова быть не должно",
        "query_help_or": "любое из двух слов",
        "query_help_phrase": "точная фраза",
        "query_help_proximity": "слова на расстоянии до 5 позиций",
        "query_help_prefix": "слова, начинающиеся с …",
        "query_help_filters": "фильтры (также на боковой панели)",
        "mode": "Режим поиска",
        "mode_hybrid": "Гибридный",
        "mode_keyword": "По словам",
        "mode_semantic": "Семантический",
        "mode_fallback": "Семантический поиск здесь недоступен; показаны результаты поиска по словам.",
        "filters": "Фильтры",
        "apply_filters": "Применить фильтры",
        "clear_filters": "Сбросить все фильтры",
        "facet_lang": "Язык",
        "facet_collection": "Коллекция",
        "facet_type": "Тип",
        "facet_tag": "Теги",
        "facet_dates": "Дата документа",
        "date_from": "С",
        "date_to": "По",
        "no_values": "нет",
        "type_pdf": "PDF",
        "type_scan": "Скан",
        "type_text": "Текст",
        "type_transcript": "Стенограмма",
        "lang_other": "Другой",
        "results_count": "Результатов: {count}",
        "results_one": "1 результат",
        "results_time": "за {ms} мс",
        "no_results": "Ничего не найдено. Попробуйте меньше слов, префикс (слово*) или другой режим.",
        "results": "Результаты",
        "start_hint": "Введите слова, чтобы искать в доступных вам документах.",
        "your_collections": "Ваши коллекции",
        "collection_documents": "Документов: {count}",
        "no_collections": "У вас пока нет доступа ни к одной коллекции. Обратитесь к администратору.",
        "file": "Файл",
        "page": "Страница",
        "page_n": "Страница {n}",
        "time": "Время",
        "speaker": "Говорящий",
        "language": "Язык",
        "collection": "Коллекция",
        "type": "Тип",
        "pagination": "Страницы результатов",
        "previous": "Предыдущая",
        "next": "Следующая",
        "page_of": "Страница {page} из {pages}",
        "search_error": "Не удалось выполнить поиск: {message}",
        "document": "Документ",
        "metadata": "Метаданные",
        "file_name": "Имя файла",
        "sha256": "SHA-256",
        "size": "Размер",
        "size_bytes": "{size} байт",
        "mime": "Формат",
        "pages": "Страниц",
        "passages": "Фрагментов",
        "doc_date": "Дата",
        "added": "Добавлен",
        "download_original": "Скачать оригинал",
        "back_to_results": "Назад к результатам",
        "text_by_page": "Извлечённый текст",
        "transcript": "Стенограмма",
        "go_to_passage": "Перейти к найденному фрагменту",
        "found_passage": "Найденный фрагмент",
        "page_image": "Изображение страницы",
        "show_page_image": "Показать изображение страницы",
        "ocr_confidence": "OCR, уверенность {value} %",
        "no_text": "Из этого документа не извлечён текст.",
        "not_found_title": "Не найдено",
        "not_found": "Такой страницы нет, или у вас нет к ней доступа.",
        "error_title": "Произошла ошибка",
        "forbidden_title": "Запрещено",
        "more_in_document": "Также в этом документе",
        "passage_link": "фрагмент",
        "years": "По годам",
    },
}


def negotiate(cookie_value: str | None, accept_language: str | None) -> str:
    """The interface language: the remembered choice, else the best of Accept-Language, else English."""
    if cookie_value in UI_LANGUAGES:
        return str(cookie_value)
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        bits = part.strip().split(";")
        tag = bits[0].strip().lower()
        if not tag:
            continue
        q = 1.0
        for b in bits[1:]:
            b = b.strip()
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        ranked.append((-q, i, tag.split("-")[0]))
    for neg_q, _, primary in sorted(ranked):
        if neg_q < 0 and primary in UI_LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


class Translator:
    """Messages and formatting for one interface language (what templates call ``t``, ``num``…)."""

    def __init__(self, lang: str) -> None:
        self.lang = lang if lang in UI_LANGUAGES else DEFAULT_LANGUAGE
        self.messages = MESSAGES[self.lang]
        self.locale = Locale.parse(BABEL_LOCALES.get(self.lang, self.lang))

    def __call__(self, key: str, **params: object) -> str:
        text = self.messages.get(key) or MESSAGES[DEFAULT_LANGUAGE].get(key, key)
        return text.format(**params) if params else text

    def num(self, value: float | int) -> str:
        return str(format_decimal(value, locale=self.locale))

    def date(self, value: date | datetime | str | None) -> str:
        if value is None or value == "":
            return ""
        if isinstance(value, str):
            raw = value
            try:
                value = date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
            except ValueError:
                return raw
        if isinstance(value, datetime):
            return str(format_datetime(value, format="medium", locale=self.locale))
        return str(format_date(value, format="long", locale=self.locale))

    def language_name(self, code: str) -> str:
        """A document language's name in the interface language (``uk`` → "українська")."""
        if code == "other":
            return self("lang_other")
        name = self.locale.languages.get(code)
        return str(name) if name else code

    def type_name(self, code: str) -> str:
        key = f"type_{code}"
        return self(key) if key in self.messages else code

    def results(self, count: int) -> str:
        return self("results_one") if count == 1 else self("results_count", count=self.num(count))


def timecode(seconds: float | None) -> str:
    """``83.5`` → ``00:01:23``."""
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _merge_work_messages() -> None:
    from ui.i18n_entities import ENTITY_MESSAGES
    from ui.i18n_manage import MANAGE_MESSAGES
    from ui.i18n_work import WORK_MESSAGES

    for catalog in (WORK_MESSAGES, MANAGE_MESSAGES, ENTITY_MESSAGES):
        for code, extra in catalog.items():
            MESSAGES[code].update(extra)


_merge_work_messages()
