"""The query-relative semantic floor: a query's background similarity to text about nothing in particular.

Cosine similarities of one embedder are not comparable across queries: multilingual-e5 gives any
pair of short texts 0.78–0.83, and a query of nonsense letters sits as close to a weather note
as a real question to its answer. The absolute floor (``ARCHIVE_SEMANTIC_FLOOR``) was calibrated on
long passages and lets such matches through on an archive of short notes. So a semantic hit must
also beat the query's own *background*: its mean cosine to a fixed set of reference texts (everyday
sentences and paragraphs on unrelated subjects, in the archive's four languages, embedded once per
embedder as passages) by ``ARCHIVE_SEMANTIC_MARGIN``. A query that is close to everything (nonsense,
a single common word) has a high background and needs a much closer passage; a specific question
has a low background. The reference set is fixed text, not archive content, so the rule is the same
on both backends, needs nothing stored with the index, and does not depend on what the archive
holds (an archive about one subject keeps its hits). Calibration: ``bench/semantic_floor.py``,
decision in ``docs/decisions.md`` ("Query-relative semantic floor").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import Passage
from index.embeddings import Embedder

REFERENCE_TEXTS: tuple[str, ...] = (
    "The train to the coast leaves at half past seven every morning.",
    "Add two cups of flour, a pinch of salt and stir until the dough is smooth.",
    "The museum is closed on Mondays and on public holidays.",
    "Our team won the regional chess tournament last spring.",
    "The new software update fixes several problems with printing.",
    "Rain is expected in the north, with sunny spells in the south later in the week.",
    "She planted tomatoes, cucumbers and a row of sunflowers along the fence.",
    "The library offers free language courses for adults in the evenings.",
    "Поезд до моря отправляется каждый день в восемь утра.",
    "Рецепт пирога: мука, яйца, сахар и немного сливочного масла.",
    "В субботу в парке пройдёт концерт духового оркестра.",
    "Компания выпустила новую модель телефона с большим экраном.",
    "Врач посоветовал больше гулять и пить воду.",
    "Школьники собрали макулатуру и сдали её на переработку.",
    "Потяг до Львова вирушає щоранку о сьомій годині.",
    "У неділю на площі відбудеться ярмарок меду та сиру.",
    "Бабуся спекла пиріжки з вишнями для онуків.",
    "Команда університету перемогла в турнірі з волейболу.",
    "Нова версія програми працює швидше і займає менше пам'яті.",
    "Завтра очікується сонячна погода без опадів.",
    "Студенти готуються до іспиту з математики.",
    "Цягнік да Мінска адпраўляецца кожную раніцу.",
    "У бібліятэцы адкрылася выстава старых кніг.",
    "Увосень у садзе паспелі яблыкі і грушы.",
    (
        "The village lies in a valley between two low hills. In summer tourists come to walk along "
        "the river, visit the old mill and buy cheese and honey at the Saturday market. In winter "
        "the roads are often closed by snow, and the bus runs only twice a day."
    ),
    (
        "The company reported higher sales in the third quarter, mainly thanks to its new range of "
        "kitchen appliances. The board expects growth to continue next year and plans to open two "
        "more shops in the capital."
    ),
    (
        "Город известен своим ботаническим садом, где растут сотни видов деревьев и цветов. "
        "Весной сюда приезжают фотографы, а летом в саду проходят концерты под открытым небом."
    ),
    (
        "Музей історії міста розташований у старому купецькому будинку. У його залах зібрано "
        "посуд, одяг, листівки та фотографії минулого століття; щосуботи тут проводять екскурсії "
        "для дітей і дорослих."
    ),
    (
        "Футбольний клуб оголосив про підписання нового воротаря. Тренер сподівається, що "
        "підсилення допоможе команді піднятися в турнірній таблиці до кінця сезону."
    ),
    (
        "Улетку ў горадзе праходзіць фестываль народнай музыкі. Музыкі з розных краін выступаюць "
        "на плошчы, а вечарам у парку ладзяць танцы."
    ),
)

_lock = threading.Lock()
_centroids: dict[str, np.ndarray] = {}


def reference_centroid(embedder: Embedder) -> np.ndarray:
    """The mean of the reference texts' passage vectors for this embedder (embedded once, kept)."""
    with _lock:
        cached = _centroids.get(embedder.id)
        if cached is not None:
            return cached
    vecs = np.asarray(embedder.embed_passages(list(REFERENCE_TEXTS)), dtype=np.float32)
    centroid: np.ndarray = np.asarray(vecs.mean(axis=0), dtype=np.float32)
    with _lock:
        _centroids[embedder.id] = centroid
    return centroid


def background(embedder: Embedder, qvec: Sequence[float]) -> float:
    """The query's mean cosine to the reference texts: how close it is to text about nothing in particular."""
    return float(np.asarray(qvec, dtype=np.float32) @ reference_centroid(embedder))


PASSAGE_CHUNK = 500
"""Passage ids per catalog query when reading stored vectors."""


def passage_backgrounds(catalog: Catalog, embedder: Embedder, passage_ids: Sequence[int]) -> dict[int, float]:
    """Each passage's own background: its stored vector's mean cosine to the reference texts.

    Short texts sit close to everything (two unrelated short sentences score 0.80–0.83), so a
    passage with a high background needs a closer query (``ARCHIVE_SEMANTIC_PASSAGE_MARGIN``). Read
    from the catalog's vectors at query time (~9 ms for 2,000 passages on SQLite): nothing is
    stored, so the value cannot go stale and both backends apply the same rule. Passages without a
    stored vector are left out of the answer."""
    centroid = reference_centroid(embedder)
    ids = sorted(set(passage_ids))
    out: dict[int, float] = {}
    with catalog.session() as s:
        for i in range(0, len(ids), PASSAGE_CHUNK):
            chunk = ids[i : i + PASSAGE_CHUNK]
            rows = s.execute(select(Passage.id, Passage.embedding).where(Passage.id.in_(chunk))).all()
            for pid, blob in rows:
                if blob is not None and len(blob) == centroid.size * 4:
                    out[int(pid)] = float(np.frombuffer(blob, dtype=np.float32) @ centroid)
    return out
