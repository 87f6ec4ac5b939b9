"""Document families: which documents are the same source (issue 19).

Four kinds of link, each with a score, between two documents (``family_links``):

- ``copy``: the same original bytes (SHA-256) in another collection; score 1.
- ``edited_copy``: near-duplicate texts (an edited or forwarded copy, a re-typed text): MinHash
  over character 5-gram shingles of the normalised text, candidates from LSH buckets
  (``family_lsh``), linked when the estimated Jaccard similarity is at least ``TEXT_THRESHOLD``.
- ``rescan``: the same near-duplicate test where one side was OCR'd (OCR variants, a re-scan of a
  typed page), or the same page image as PNG/JPEG/TIFF/PDF: a 256-bit DCT perceptual hash of each
  scanned page (``page_hashes``), linked within ``IMAGE_MAX_DISTANCE`` bits.
- ``translation``: documents in different languages whose mean passage embeddings (the archive's
  cross-lingual embedder) are mutually nearest in each other's language, with a combined score
  (cosine, numbers and names in common, length ratio) of at least ``TRANSLATION_THRESHOLD``.

The thresholds are calibrated on the dev set of ``bench/families.py`` (``docs/benchmarks.md``).
A family is a connected component of links that are not ``broken`` (``search_api/families.py``
computes them, over the documents a caller may read only). People confirm or break links there;
a rebuild keeps their decisions: a pair with a broken link is never linked again.

Page images of originals are decoded in the extraction sandbox (``PageHashExtractor``), never in
the process that writes the catalog. Everything else reads the catalog only.

Why one module: fingerprints, LSH candidates and link building share the text normalisation, the
shingles and the thresholds; a change to one is a change to the others.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import and_, delete, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.models import (
    Document,
    DocumentFingerprint,
    FamilyLink,
    FamilyLsh,
    Page,
    PageHash,
    Passage,
    StoredFile,
)
from archive_search.catalog.store import OriginalStore
from archive_search.types import Extraction, SourceFile, TextBlock
from ingest.dates import find_dates
from ingest.extractors.base import NO_BID, SPECIALIST, ExtractionError, Limits, Skip
from ingest.normalize import fix_lookalikes
from ingest.sandbox import run_extractor

log = logging.getLogger(__name__)

KINDS = ("copy", "edited_copy", "rescan", "translation")
SHINGLE = 5
"""Characters per shingle: OCR errors damage few 5-grams each, and 5-grams of two unrelated texts
in one language rarely meet (measured: ``docs/benchmarks.md``)."""
NUM_PERM = 126
BANDS, ROWS = 42, 3
"""LSH: 42 bands of 3 rows: a pair with Jaccard 0.3 becomes a candidate with p≈0.68, 0.4 with
p≈0.94, 0.5 (the threshold) with p≈0.996; Jaccard 0.1 with p≈0.04."""
MIN_TEXT_CHARS = 150
"""Normalised characters a text needs before its MinHash means anything."""
TEXT_THRESHOLD = 0.5
"""Estimated Jaccard of 5-gram shingles for an ``edited_copy``/``rescan`` link. On the dev set
(``bench/families.py``) the lowest true pair is an OCR re-scan at 0.587 (Tesseract vs ABBYY on a
real Soviet scan), the highest false pair two UDHR articles of one language at 0.389."""
MAX_NEAR_LINKS = 8
"""Near-duplicate links a document gets at most (its closest); families are the connected
components of the links, so a larger group is still one family."""
MAX_NEAR_CANDIDATES = 64
"""LSH candidates compared per document at most, those sharing the most bands first (a form
letter in two thousand files must not make every document compare itself with all the others)."""
IMAGE_BITS = 256
IMAGE_MAX_DISTANCE = 64
"""Hamming distance (of 256 bits) within which two page images are the same page. Dev set: the
same page as PNG, re-scanned JPEG and image PDF within 42 bits; another page of the same PDF
(same layout and typeface) 98 bits or more."""
MAX_HASH_PAGES = 50
"""Scanned pages hashed per document."""
TRANSLATION_THRESHOLD = 0.82
"""Combined translation score (see :func:`translation_score`): the lowest true score of the
calibration half of the dev set (0.821; no false pair above it there), with the e5-small embedder."""
TIE = 1e-4
"""Translation scores this close are a tie (copies of one text), broken by the earliest document:
a copy's vector differs from the original's in its last bits when embedded in another batch."""
LENGTH_RATIO = (0.55, 1.8)
"""Character lengths of a text and its translation stay within this ratio."""
_MASK32 = np.uint64(0xFFFFFFFF)
_rng = np.random.default_rng(19)
_A = _rng.integers(1, 2**64 - 1, size=NUM_PERM, dtype=np.uint64, endpoint=True) | np.uint64(1)
_B = _rng.integers(0, 2**64 - 1, size=NUM_PERM, dtype=np.uint64, endpoint=True)
"""Multiply-shift hashing needs 64-bit odd multipliers and 64-bit offsets: the products wrap
modulo 2⁶⁴, and the high 32 bits are the hash (with 32-bit ones the hash would only grow with x)."""
_NON_WORD = re.compile(r"[\W_]+")
_NUMBER = re.compile(r"(?<!\d)\d+(?:[.,]\d+)?(?!\d)")
_CAPITAL = re.compile(r"(?<![\w.!?]\s)(?<!^)\b([A-ZА-ЯЁІЇЄҐЎ][\w'’-]{2,})")
_WORD_START = re.compile(r"[A-ZА-ЯЁІЇЄҐЎ][\w'’-]{2,}")


# -- text fingerprints ------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Text as the shingles see it: NFKC, look-alike letters repaired, case folded, ё→е, soft
    hyphens and end-of-line hyphenation joined, every run of non-letters one space."""
    t = unicodedata.normalize("NFKC", text).replace("\u00ad", "").replace("¬", "")
    t = re.sub(r"-\s*\n\s*", "", t)
    t = fix_lookalikes(t).casefold().replace("ё", "е")
    return _NON_WORD.sub(" ", t).strip()


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 32-bit hashes (CRC-32) of the normalised text's character shingles."""
    return _normalised_shingle_hashes(normalise(text))


def _normalised_shingle_hashes(t: str) -> np.ndarray:
    """``shingle_hashes`` of an already normalised text."""
    if len(t) < MIN_TEXT_CHARS:
        return np.zeros(0, dtype=np.uint64)
    seen = {zlib.crc32(t[i : i + SHINGLE].encode("utf-8")) for i in range(len(t) - SHINGLE + 1)}
    return np.fromiter(seen, dtype=np.uint64, count=len(seen))


def minhash(hashes: np.ndarray) -> np.ndarray | None:
    """The MinHash signature (``NUM_PERM`` uint32) of a set of 32-bit hashes; None when empty.
    Universal hashing ``(a·x + b) mod 2⁶⁴ >> 32`` (multiply-shift), in chunks to bound memory."""
    if hashes.size == 0:
        return None
    sig = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    for i in range(0, hashes.size, 8192):
        chunk = hashes[i : i + 8192][:, None]
        with np.errstate(over="ignore"):
            h = (chunk * _A[None, :] + _B[None, :]) >> np.uint64(32)
        sig = np.minimum(sig, h.min(axis=0))
    return (sig & _MASK32).astype(np.uint32)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


def lsh_buckets(sig: np.ndarray) -> list[tuple[int, int]]:
    """(band, bucket) of each LSH band: a signed 64-bit digest of the band's rows."""
    out = []
    for band in range(BANDS):
        rows = sig[band * ROWS : (band + 1) * ROWS].tobytes()
        digest = hashlib.blake2b(rows, digest_size=8).digest()
        out.append((band, int.from_bytes(digest, "big", signed=True)))
    return out


def numbers_of(text: str) -> list[str]:
    """The numbers written in a text (decimal comma read as a point), in order, at most 500."""
    return [n.replace(",", ".") for n in _NUMBER.findall(text)][:500]


def names_of(text: str, name_key: Callable[[str], str | None]) -> set[str]:
    """Script-neutral keys of the capitalised words that do not start a sentence (names)."""
    out: set[str] = set()
    for m in _WORD_START.finditer(text):
        before = text[max(0, m.start() - 3) : m.start()].rstrip()
        if not before or before[-1] in '.!?:«"“(\n':
            continue
        key = name_key(m.group())
        if key:
            out.add(key)
        if len(out) >= 500:
            break
    return out


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def translation_score(
    cos: float, nums_a: set[str], nums_b: set[str], names_a: set[str], names_b: set[str]
) -> float:
    """Cosine of the mean passage embeddings, moved by up to ±0.05 by the agreement of the
    numbers and ±0.05 by that of the names (when each side has some): a translation keeps its
    dates, counts and names, a text on the same subject does not."""
    score = cos
    if nums_a and nums_b:
        score += 0.1 * (_jaccard(nums_a, nums_b) - 0.5)
    if len(names_a) >= 2 and len(names_b) >= 2:
        score += 0.1 * (_jaccard(names_a, names_b) - 0.5)
    return score


# -- page images ----------------------------------------------------------------------------------


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``C @ x @ C.T`` is ``scipy.fft.dctn(x, norm="ortho")``
    (numpy only: scipy is not a dependency of the service)."""
    k = np.arange(n)[:, None]
    c: np.ndarray = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


_DCT64 = _dct_matrix(64)


def phash(image: object) -> bytes:
    """256-bit perceptual hash of a page image (a PIL image): grey, margins trimmed, 64×64,
    2-D DCT, the 16×16 lowest frequencies compared with their median."""
    from PIL import Image, ImageOps

    assert isinstance(image, Image.Image)
    g = ImageOps.grayscale(image)
    g.thumbnail((1024, 1024))
    inv = ImageOps.invert(ImageOps.autocontrast(g))
    bbox = inv.point(lambda v: 255 if v > 60 else 0).getbbox()
    if bbox is not None:
        g = g.crop(bbox)
    small = np.asarray(g.resize((64, 64), Image.Resampling.LANCZOS), dtype=np.float64)
    coeffs = (_DCT64 @ small @ _DCT64.T)[:16, :16].flatten()  # the orthonormal 2-D DCT-II
    bits = coeffs[1:] > np.median(coeffs[1:])
    return np.packbits(np.concatenate([[False], bits])).tobytes()


def hamming_many(one: bytes, many: np.ndarray) -> np.ndarray:
    """Hamming distances of one 32-byte hash to each row of a (n, 32) uint8 array."""
    x = np.bitwise_xor(many, np.frombuffer(one, dtype=np.uint8)[None, :])
    out: np.ndarray = np.unpackbits(x, axis=1).sum(axis=1)
    return out


class PageHashExtractor:
    """Perceptual hashes of the pages of an image or PDF, computed in the extraction sandbox:
    one block per page, its text the hash in hex, ``method`` ``"phash"``."""

    name = "page-hash"
    version = "1"

    def __init__(self, pages: Sequence[int] | None = None) -> None:
        self.pages = tuple(pages) if pages is not None else None

    def bid(self, mime: str) -> int:
        return SPECIALIST if mime == "application/pdf" or mime.startswith("image/") else NO_BID

    def extract(self, source: SourceFile, limits: Limits) -> Extraction:
        from PIL import Image, ImageSequence, UnidentifiedImageError

        Image.MAX_IMAGE_PIXELS = limits.max_image_pixels
        blocks: list[TextBlock] = []
        wanted = set(self.pages) if self.pages is not None else None
        if source.mime == "application/pdf":
            import pypdfium2 as pdfium

            try:
                pdf = pdfium.PdfDocument(str(source.path), password=limits.pdf_password)
            except pdfium.PdfiumError as exc:
                raise ExtractionError("corrupt_pdf", str(exc)) from exc
            try:
                for i in range(min(len(pdf), limits.max_pages)):
                    if (wanted is not None and i + 1 not in wanted) or len(blocks) >= MAX_HASH_PAGES:
                        continue
                    page = pdf[i]
                    w, h = page.get_size()
                    scale = min(600 / max(w, h, 1), 4.0)
                    img = page.render(scale=scale).to_pil()
                    page.close()
                    blocks.append(TextBlock(text=phash(img).hex(), page=i + 1, method="phash"))
            finally:
                pdf.close()
        else:
            try:
                with Image.open(source.path) as img:
                    for n, frame in enumerate(ImageSequence.Iterator(img), start=1):
                        if n > MAX_HASH_PAGES:
                            break
                        if wanted is not None and n not in wanted:
                            continue
                        if frame.size[0] * frame.size[1] > limits.max_image_pixels:
                            raise ExtractionError("image_too_large", f"{frame.size} pixels exceed the limit")
                        blocks.append(TextBlock(text=phash(frame.copy()).hex(), page=n, method="phash"))
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
                raise ExtractionError("corrupt_image", str(exc)) from exc
        return Extraction(doc_type="scan", blocks=blocks, page_count=len(blocks))


# -- the builder ----------------------------------------------------------------------------------


@dataclass
class FamilyReport:
    """What one run of the builder did."""

    fingerprinted: int = 0
    vectors: int = 0
    links: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    failed: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "fingerprinted": self.fingerprinted,
            "vectors": self.vectors,
            "links": dict(self.links),
            "failed": self.failed,
        }


Progress = Callable[[int, int], None]


def _pair_key(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


class FamilyBuilder:
    """Fingerprints documents and links them (``archive families rebuild``, and after every
    ingestion and embedding run for the documents not fingerprinted yet)."""

    def __init__(
        self,
        catalog: Catalog,
        store: OriginalStore,
        *,
        limits: Limits | None = None,
        name_key: Callable[[str], str | None] | None = None,
        batch: int = 200,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.limits = limits or Limits()
        self.name_key = name_key or (lambda w: w.casefold())
        self.batch = batch

    # -- entry points -------------------------------------------------------------------------------

    def update_pending(self, *, progress: Progress | None = None, vectors: bool = True) -> FamilyReport:
        """Fingerprint and link every document without a fingerprint; then (``vectors``) give a
        vector to every fingerprinted document whose passages are all embedded, and link its
        translations."""
        report = FamilyReport()
        with self.catalog.session() as s:
            todo = list(
                s.scalars(
                    select(Document.id)
                    .outerjoin(DocumentFingerprint, DocumentFingerprint.document_id == Document.id)
                    .where(DocumentFingerprint.document_id.is_(None))
                    .order_by(Document.id)
                )
            )
        for i in range(0, len(todo), self.batch):
            chunk = todo[i : i + self.batch]
            self._fingerprint(chunk, report)
            self._link_text_and_images(chunk, report)
            if progress is not None:
                progress(min(i + self.batch, len(todo)), len(todo))
        if vectors:
            self._vectors_and_translations(report)
        return report

    def rebuild(self, *, progress: Progress | None = None) -> FamilyReport:
        """Forget every fingerprint and automatic link, then fingerprint and link everything again.
        Confirmed and broken links (people's decisions) stay."""
        with self.catalog.session() as s:
            s.execute(delete(FamilyLink).where(FamilyLink.status == "auto"))
            s.execute(delete(FamilyLsh))
            s.execute(delete(PageHash))
            s.execute(delete(DocumentFingerprint))
        return self.update_pending(progress=progress)

    # -- fingerprints -------------------------------------------------------------------------------

    def _text_of(self, s: Session, document_id: int) -> tuple[str, bool]:
        """(the document's extracted text, whether any of it came from OCR)."""
        pages = s.execute(
            select(Page.text, Page.method).where(Page.document_id == document_id).order_by(Page.number)
        ).all()
        if pages:
            return "\n".join(t for t, _ in pages), any(m == "ocr" for _, m in pages)
        texts = s.scalars(
            select(Passage.text).where(Passage.document_id == document_id).order_by(Passage.seq)
        )
        return "\n".join(texts), False

    def _fingerprint(self, doc_ids: list[int], report: FamilyReport) -> None:
        for doc_id in doc_ids:
            try:
                self._fingerprint_one(doc_id)
            except IntegrityError:  # another worker fingerprinted it (or it was deleted) meanwhile
                continue
            try:
                self._hash_pages(doc_id)
            except (ExtractionError, Skip) as exc:
                report.failed += 1
                log.warning("page hashes of document %d: %s", doc_id, exc)
            report.fingerprinted += 1

    def _fingerprint_one(self, doc_id: int) -> None:
        with self.catalog.session() as s:
            text, _ = self._text_of(s, doc_id)
            text = text[:2_000_000]
            norm = normalise(text)  # once: for the shingles and for the length
            sig = minhash(_normalised_shingle_hashes(norm))
            dates = [d for _, d in find_dates(text[:200_000])]
            fp = DocumentFingerprint(
                document_id=doc_id,
                minhash=sig.tobytes() if sig is not None else None,
                text_chars=len(norm),
                numbers=" ".join(numbers_of(text)),
                names=" ".join(sorted(names_of(text[:200_000], self.name_key))),
                first_date=min(dates) if dates else None,
                computed_at=datetime.now(UTC),
            )
            s.add(fp)
            if sig is not None:
                s.add_all(FamilyLsh(band=b, bucket=k, document_id=doc_id) for b, k in lsh_buckets(sig))

    def _hash_pages(self, doc_id: int) -> None:
        """Perceptual hashes of an image document's frames or of a PDF's OCR'd (scanned) pages."""
        with self.catalog.session() as s:
            row = s.execute(
                select(Document.mime, Document.filename, StoredFile.sha256, StoredFile.size)
                .join(StoredFile, StoredFile.id == Document.file_id)
                .where(Document.id == doc_id)
            ).first()
            if row is None:
                return
            mime, filename, sha, size = row
            if mime == "application/pdf":
                pages = list(
                    s.scalars(
                        select(Page.number)
                        .where(Page.document_id == doc_id, Page.method == "ocr")
                        .order_by(Page.number)
                    )
                )
                if not pages:
                    return
            elif mime.startswith("image/"):
                pages = None
            else:
                return
        path = self.store.path_for(sha)
        if not Path(path).exists():
            return
        src = SourceFile(filename=filename, sha256=sha, size=size, path=path, mime=mime)
        ex = run_extractor(PageHashExtractor(pages[:MAX_HASH_PAGES] if pages else None), src, self.limits)
        with self.catalog.session() as s:
            for b in ex.blocks:
                if b.page is None or len(b.text) != IMAGE_BITS // 4:
                    continue
                s.add(PageHash(document_id=doc_id, page=b.page, phash=bytes.fromhex(b.text)))

    # -- links --------------------------------------------------------------------------------------

    def _broken_pairs(self, s: Session, doc_ids: Iterable[int]) -> set[tuple[int, int]]:
        ids = list(doc_ids)
        rows = s.execute(
            select(FamilyLink.doc_a, FamilyLink.doc_b).where(
                FamilyLink.status == "broken", or_(FamilyLink.doc_a.in_(ids), FamilyLink.doc_b.in_(ids))
            )
        ).all()
        return {(int(a), int(b)) for a, b in rows}

    def _link(
        self,
        s: Session,
        a: int,
        b: int,
        kind: str,
        score: float,
        details: dict[str, object],
        broken: set[tuple[int, int]],
        report: FamilyReport,
    ) -> None:
        a, b = _pair_key(a, b)
        if a == b or (a, b) in broken:
            return
        existing = s.scalar(
            select(FamilyLink).where(FamilyLink.doc_a == a, FamilyLink.doc_b == b, FamilyLink.kind == kind)
        )
        if existing is not None:
            if existing.status == "auto":
                existing.score = round(score, 4)
                existing.details = json.dumps(details, sort_keys=True)
            return
        s.add(
            FamilyLink(
                doc_a=a,
                doc_b=b,
                kind=kind,
                score=round(score, 4),
                status="auto",
                details=json.dumps(details, sort_keys=True),
                created_at=datetime.now(UTC),
            )
        )
        s.flush()
        report.links[kind] += 1

    def _link_text_and_images(self, doc_ids: list[int], report: FamilyReport) -> None:
        with self.catalog.session() as s:
            broken = self._broken_pairs(s, doc_ids)
            self._link_copies(s, doc_ids, broken, report)
            self._link_near_duplicates(s, doc_ids, broken, report)
            self._link_images(s, doc_ids, broken, report)

    def _link_copies(
        self, s: Session, doc_ids: list[int], broken: set[tuple[int, int]], report: FamilyReport
    ) -> None:
        files = dict(s.execute(select(Document.id, Document.file_id).where(Document.id.in_(doc_ids))).all())
        same = s.execute(
            select(Document.id, Document.file_id).where(Document.file_id.in_(set(files.values())))
        ).all()
        by_file: dict[int, list[int]] = {}
        for d, f in same:
            by_file.setdefault(int(f), []).append(int(d))
        for d, f in files.items():
            for other in by_file.get(int(f), []):
                if other != d:
                    self._link(s, d, other, "copy", 1.0, {"sha256": True}, broken, report)

    @staticmethod
    def _files(s: Session, doc_ids: list[int]) -> dict[int, int]:
        return {
            int(d): int(f)
            for d, f in s.execute(select(Document.id, Document.file_id).where(Document.id.in_(doc_ids))).all()
        }

    def _scanned(self, s: Session, doc_ids: Iterable[int]) -> set[int]:
        ids = list(doc_ids)
        return {
            int(d)
            for d in s.scalars(
                select(Page.document_id).where(Page.document_id.in_(ids), Page.method == "ocr").distinct()
            )
        }

    def _link_near_duplicates(
        self, s: Session, doc_ids: list[int], broken: set[tuple[int, int]], report: FamilyReport
    ) -> None:
        sigs = {
            int(d): np.frombuffer(m or b"", dtype=np.uint32)
            for d, m in s.execute(
                select(DocumentFingerprint.document_id, DocumentFingerprint.minhash).where(
                    DocumentFingerprint.document_id.in_(doc_ids), DocumentFingerprint.minhash.is_not(None)
                )
            ).all()
        }
        for d, sig in sigs.items():
            keys = lsh_buckets(sig)
            shared = func.count(FamilyLsh.band)
            cands = set(  # the documents sharing the most bands first: the likeliest near-copies
                s.scalars(
                    select(FamilyLsh.document_id)
                    .where(tuple_(FamilyLsh.band, FamilyLsh.bucket).in_(keys), FamilyLsh.document_id != d)
                    .group_by(FamilyLsh.document_id)
                    .order_by(shared.desc(), FamilyLsh.document_id)
                    .limit(MAX_NEAR_CANDIDATES)
                )
            )
            if not cands:
                continue
            other = {
                int(o): np.frombuffer(m, dtype=np.uint32)
                for o, m in s.execute(
                    select(DocumentFingerprint.document_id, DocumentFingerprint.minhash).where(
                        DocumentFingerprint.document_id.in_(cands)
                    )
                ).all()
                if m is not None
            }
            scanned = self._scanned(s, [d, *other])
            files = self._files(s, [d, *other])
            near = sorted(
                (
                    (similarity(sig, osig), o)
                    for o, osig in other.items()
                    if files.get(o) != files.get(d)  # the same bytes: already a ``copy``
                ),
                reverse=True,
            )
            # the closest few are enough: a family is a connected component, and linking every
            # pair of a large group of near-copies made ingestion quadratic (a form letter in a
            # thousand files meant half a million links)
            for sim, o in near[:MAX_NEAR_LINKS]:
                if sim >= TEXT_THRESHOLD:
                    kind = "rescan" if (d in scanned or o in scanned) else "edited_copy"
                    self._link(s, d, o, kind, sim, {"jaccard": round(sim, 4)}, broken, report)

    def _link_images(
        self, s: Session, doc_ids: list[int], broken: set[tuple[int, int]], report: FamilyReport
    ) -> None:
        mine = s.execute(
            select(PageHash.document_id, PageHash.page, PageHash.phash).where(
                PageHash.document_id.in_(doc_ids)
            )
        ).all()
        if not mine:
            return
        rows = s.execute(select(PageHash.document_id, PageHash.page, PageHash.phash)).all()
        all_docs = np.array([int(r[0]) for r in rows])
        all_pages = np.array([int(r[1]) for r in rows])
        matrix = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint8).reshape(
            len(rows), IMAGE_BITS // 8
        )
        files = self._files(s, sorted({int(x) for x in all_docs.tolist()}))
        for d, page, h in mine:
            dist = hamming_many(h, matrix)
            best: dict[int, tuple[int, int]] = {}
            for i in np.nonzero((dist <= IMAGE_MAX_DISTANCE) & (all_docs != d))[0]:
                o = int(all_docs[i])
                if o not in best or dist[i] < best[o][0]:
                    best[o] = (int(dist[i]), int(all_pages[i]))
            for o, (dd, opage) in best.items():
                if files.get(o) == files.get(d):
                    continue  # the same bytes: already a ``copy``
                score = 1 - dd / IMAGE_BITS
                self._link(
                    s, d, o, "rescan", score, {"page": page, "other_page": opage, "bits": dd}, broken, report
                )

    # -- translations -------------------------------------------------------------------------------

    def _vectors_and_translations(self, report: FamilyReport) -> None:
        """Vectors for fingerprinted documents whose passages are all embedded, then translation
        links for them."""
        with self.catalog.session() as s:
            waiting = list(
                s.scalars(select(DocumentFingerprint.document_id).where(DocumentFingerprint.vector.is_(None)))
            )
        ready: list[int] = []
        for i in range(0, len(waiting), self.batch):
            with self.catalog.session() as s:
                part = waiting[i : i + self.batch]
                unembedded = set(
                    s.scalars(
                        select(Passage.document_id)
                        .where(Passage.document_id.in_(part), Passage.embedding.is_(None))
                        .distinct()
                    )
                )
            chunk = [d for d in part if d not in unembedded]
            with self.catalog.session() as s:
                vecs: dict[int, list[np.ndarray]] = {}
                for d, e in s.execute(
                    select(Passage.document_id, Passage.embedding).where(
                        Passage.document_id.in_(chunk), Passage.embedding.is_not(None)
                    )
                ).all():
                    v = np.frombuffer(e or b"", dtype=np.float32)
                    n = float(np.linalg.norm(v))
                    if n > 0:
                        vecs.setdefault(int(d), []).append(v / n)
                now = datetime.now(UTC)
                for d, vs in vecs.items():
                    m = np.mean(np.stack(vs), axis=0)
                    n = float(np.linalg.norm(m))
                    if n == 0:
                        continue
                    s.execute(
                        update(DocumentFingerprint)
                        .where(DocumentFingerprint.document_id == d)
                        .values(vector=(m / n).astype(np.float32).tobytes(), vector_at=now)
                    )
                    ready.append(d)
        report.vectors += len(ready)
        if ready:
            self._link_translations(ready, report)

    def _link_translations(self, doc_ids: list[int], report: FamilyReport) -> None:
        with self.catalog.session() as s:
            rows = s.execute(
                select(
                    DocumentFingerprint.document_id,
                    DocumentFingerprint.vector,
                    DocumentFingerprint.text_chars,
                    DocumentFingerprint.numbers,
                    DocumentFingerprint.names,
                    Document.lang,
                )
                .join(Document, Document.id == DocumentFingerprint.document_id)
                .where(DocumentFingerprint.vector.is_not(None), Document.lang != "other")
                .order_by(DocumentFingerprint.document_id)
            ).all()
            if len(rows) < 2:
                return
            ids = np.array([int(r[0]) for r in rows])
            matrix = np.stack([np.frombuffer(r[1] or b"", dtype=np.float32) for r in rows])
            chars = np.array([max(int(r[2]), 1) for r in rows], dtype=np.float64)
            langs = np.array([r[5] for r in rows])
            nums = [set(r[3].split()) for r in rows]
            names = [set(r[4].split()) for r in rows]
            index = {int(d): i for i, d in enumerate(ids)}
            broken = self._broken_pairs(s, doc_ids)

            def best_in(i: int, lang: str) -> tuple[int, float] | None:
                cos = matrix @ matrix[i]
                ratio = chars / chars[i]
                ok = (langs == lang) & (ratio >= LENGTH_RATIO[0]) & (ratio <= LENGTH_RATIO[1])
                ok[i] = False
                if not ok.any():
                    return None
                cand = np.nonzero(ok)[0]
                top = cand[np.argsort(-cos[cand])[:5]]
                scored = [
                    (int(j), translation_score(float(cos[j]), nums[i], nums[j], names[i], names[j]))
                    for j in top
                ]
                # copies of one text score the same but for the last bits of their vectors (embedded
                # in other batches): among them the earliest document, in both directions alike
                best = max(score for _, score in scored)
                return min((j, score) for j, score in scored if score >= best - TIE)

            for d in doc_ids:
                i = index.get(d)
                if i is None:
                    continue
                for lang in set(langs.tolist()) - {langs[i]}:
                    found = best_in(i, lang)
                    if found is None or found[1] < TRANSLATION_THRESHOLD:
                        continue
                    j, score = found
                    back = best_in(j, str(langs[i]))
                    if back is None or back[0] != i:
                        continue  # not mutually nearest: a text on the same subject, not its translation
                    self._link(
                        s,
                        d,
                        int(ids[j]),
                        "translation",
                        score,
                        {"cosine": round(float(matrix[i] @ matrix[j]), 4), "langs": [str(langs[i]), lang]},
                        broken,
                        report,
                    )


def pending_count(catalog: Catalog) -> int:
    """Documents without a fingerprint yet."""
    with catalog.session() as s:
        return int(
            s.scalar(
                select(func.count(Document.id))
                .outerjoin(DocumentFingerprint, DocumentFingerprint.document_id == Document.id)
                .where(DocumentFingerprint.document_id.is_(None))
            )
            or 0
        )


def first_dates(catalog: Catalog, doc_ids: Iterable[int]) -> dict[int, date]:
    """The earliest date written in each document's text (from its fingerprint)."""
    ids = list(doc_ids)
    with catalog.session() as s:
        return {
            int(d): fd
            for d, fd in s.execute(
                select(DocumentFingerprint.document_id, DocumentFingerprint.first_date).where(
                    and_(
                        DocumentFingerprint.document_id.in_(ids), DocumentFingerprint.first_date.is_not(None)
                    )
                )
            ).all()
            if fd is not None
        }
