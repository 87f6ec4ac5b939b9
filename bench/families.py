"""Precision and recall of document-family links per kind, and their cost per document (issue 19).

The dev set is built here from ``/work/shared/data`` and ingested through the real pipeline
(extraction, OCR, passages, embeddings with the configured embedder, then ``ingest/families.py``):

- **translations**: NTREX-128 news documents (en/ru/uk/be, human translations) and the UDHR
  articles (en/ru/uk/be), one document per text and language. Gold: every pair of languages of
  one text. Thresholds are chosen on the *calibration* half (NTREX documents with an even index)
  and reported on the *test* half (NTREX odd + all of the UDHR).
- **edited copies**: for NTREX en and ru documents, a copy edited here by fixed rules (a forwarding
  header and a signature added, one sentence dropped, two swapped, line breaks changed, a few
  words retyped), in another collection. Gold: (original, edited copy).
- **copies**: the same bytes of some NTREX documents in a third collection. Gold: the pair.
- **re-scans**: pages of the UNLP Ukrainian PDFs as a one-page PDF with its text layer, a PNG
  render, a "re-scanned" JPEG (other resolution, rotated, blurred, JPEG q=40) and an image-only PDF
  of another rendering; the real Soviet datasheet scans (image-only PDF OCR'd by us with
  Tesseract, ABBYY's searchable PDF of the same scan, ABBYY's text). Gold: every pair of versions
  of one page. The second page of each UNLP PDF is added as PNG and text-layer PDF: same layout,
  same typeface, other text — the hard negatives of the perceptual hash.

A predicted link is correct when both documents belong to the same gold family (whatever its
kind); recall of a kind counts its gold pairs joined by a direct link of any kind, and (``family``
column) by being in one connected component.

    ARCHIVE_EMBEDDER=e5-onnx .venv/bin/python bench/families.py [--ntrex 60] [--pages 6] [--json out.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import re
import tempfile
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

DATA = Path("/work/shared/data")
LANGS = ("en", "ru", "uk", "be")


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def edit_copy(text: str, rng: random.Random, lang: str) -> str:
    """An edited copy: forwarded with a header and signature, a sentence dropped, two swapped,
    lines re-broken, some words retyped with a letter changed."""
    sents = re.split(r"(?<=[.!?])\s+", text.replace("\r\n", " ").replace("\n", " ").strip())
    if len(sents) > 4:
        del sents[rng.randrange(1, len(sents) - 1)]
        i = rng.randrange(0, len(sents) - 1)
        sents[i], sents[i + 1] = sents[i + 1], sents[i]
    words = " ".join(sents).split(" ")
    for _ in range(max(1, len(words) // 40)):
        j = rng.randrange(len(words))
        w = words[j]
        if len(w) > 4:
            k = rng.randrange(1, len(w) - 1)
            words[j] = w[:k] + w[k + 1] + w[k] + w[k + 2 :]
    body = ""
    line = ""
    for w in words:
        if len(line) + len(w) > 72:
            body += line.rstrip() + "\n"
            line = ""
        line += w + " "
    body += line.rstrip()
    head = {
        "en": "---------- Forwarded message ---------\nFrom: field office <office@example.org>\n"
        "Subject: Fwd: report\n\n",
        "ru": "---------- Пересланное сообщение ---------\nОт: полевой офис <office@example.org>\n"
        "Тема: Fwd: отчёт\n\n",
    }[lang]
    sign = {"en": "\n\n--\nSent from the field office", "ru": "\n\n--\nОтправлено из полевого офиса"}[lang]
    return head + body + sign


def build_dev_set(
    root: Path, n_ntrex: int, n_pages: int, seed: int, soviet: bool = True
) -> tuple[dict[str, list[Path]], dict[str, Any]]:
    """Files per collection, and the gold: {(collection, file name): family} and pairs by kind."""
    import pypdfium2 as pdfium
    from PIL import ImageFilter

    rng = random.Random(seed)
    cols: dict[str, list[Path]] = defaultdict(list)
    family: dict[tuple[str, str], str] = {}
    pairs: dict[str, list[tuple[tuple[str, str], tuple[str, str]]]] = defaultdict(list)
    split: dict[str, str] = {}

    def put(col: str, name: str, data: bytes, fam: str) -> tuple[str, str]:
        d = root / col
        d.mkdir(parents=True, exist_ok=True)
        p = d / name
        p.write_bytes(data)
        cols[col].append(p)
        family[(col, name)] = fam
        return (col, name)

    # translations: NTREX
    ntrex = {lang: _jsonl(DATA / "ntrex128-ru-uk-be-en" / f"corpus.{lang}.jsonl") for lang in LANGS}
    for i, en_doc in enumerate(ntrex["en"][:n_ntrex]):
        did = en_doc["_id"]
        fam = f"ntrex:{did}"
        split[fam] = "calibration" if i % 2 == 0 else "test"
        keys = []
        for lang in LANGS:
            doc = next(d for d in ntrex[lang] if d["_id"] == did)
            keys.append(put("reports", f"ntrex-{did}-{lang}.txt", doc["text"].encode("utf-8"), fam))
        pairs["translation"] += list(combinations(keys, 2))
        if i % 3 == 0:  # edited copies of a third of them, en or ru
            lang = "en" if i % 2 == 0 else "ru"
            doc = next(d for d in ntrex[lang] if d["_id"] == did)
            k = put(
                "forwarded", f"fwd-{did}-{lang}.txt", edit_copy(doc["text"], rng, lang).encode("utf-8"), fam
            )
            pairs["edited_copy"].append((("reports", f"ntrex-{did}-{lang}.txt"), k))
        if i % 6 == 1:  # exact copies in another collection
            src = root / "reports" / f"ntrex-{did}-uk.txt"
            k = put("mirror", f"ntrex-{did}-uk.txt", src.read_bytes(), fam)
            pairs["copy"].append((("reports", f"ntrex-{did}-uk.txt"), k))
    # translations: UDHR
    by_article: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for a in _jsonl(DATA / "udhr-ru-uk-be-en" / "articles.jsonl"):
        by_article[int(a["article"])][a["lang"]] = a
    for art, docs in sorted(by_article.items()):
        if set(docs) < set(LANGS):
            continue
        fam = f"udhr:{art}"
        split[fam] = "test"
        keys = [
            put(
                "udhr",
                f"udhr-{art:02d}-{lang}.txt",
                (docs[lang]["heading"] + "\n" + docs[lang]["text"]).encode(),
                fam,
            )
            for lang in LANGS
        ]
        pairs["translation"] += list(combinations(keys, 2))
    # re-scans: UNLP PDF pages
    pdfs = sorted((DATA / "unlp2026-uk-medical-pdf" / "pdfs").glob("*.pdf"))
    used = 0
    for path in pdfs:
        if used >= n_pages:
            break
        src = pdfium.PdfDocument(str(path))
        if len(src) < 3:
            src.close()
            continue
        texts = [src[i].get_textpage().get_text_range() for i in (1, 2)]
        if any(len(t) < 800 for t in texts):
            src.close()
            continue
        used += 1
        stem = path.stem[:10]
        for pi, pno in enumerate((1, 2)):
            fam = f"page:{stem}:{pno}"
            one = pdfium.PdfDocument.new()
            one.import_pages(src, [pno])
            buf = io.BytesIO()
            one.save(buf)
            one.close()
            keys = [put("scans", f"{stem}-p{pno}-text.pdf", buf.getvalue(), fam)]
            img = src[pno].render(scale=150 / 72).to_pil().convert("L")
            png = io.BytesIO()
            img.save(png, format="PNG")
            keys.append(put("scans", f"{stem}-p{pno}-scan.png", png.getvalue(), fam))
            if pi == 0:  # the page re-scanned twice; the second page is a hard negative only
                again = src[pno].render(scale=200 / 72).to_pil().convert("L")
                again = again.rotate(0.8, expand=True, fillcolor=255).filter(ImageFilter.GaussianBlur(0.7))
                jpg = io.BytesIO()
                again.save(jpg, format="JPEG", quality=40)
                keys.append(put("rescans", f"{stem}-p{pno}-rescan.jpg", jpg.getvalue(), fam))
                third = src[pno].render(scale=170 / 72).to_pil().convert("L").rotate(-0.5, fillcolor=255)
                pdf = io.BytesIO()
                third.save(pdf, format="PDF", resolution=170.0)
                keys.append(put("rescans", f"{stem}-p{pno}-rescan.pdf", pdf.getvalue(), fam))
            pairs["rescan"] += list(combinations(keys, 2))
        src.close()
    # re-scans: the Soviet datasheets (real scans; ABBYY's OCR and searchable PDF vs ours)
    for folder in sorted((DATA / "soviet-datasheet-scans-ru").glob("R*")) if soviet else []:
        stem = next(folder.glob("*-scan.pdf")).name.removesuffix("-scan.pdf")
        fam = f"soviet:{stem}"
        keys = [
            put("scans", f"{stem}-scan.pdf", (folder / f"{stem}-scan.pdf").read_bytes(), fam),
            put("rescans", f"{stem}-abbyy.pdf", (folder / f"{stem}-ocr.pdf").read_bytes(), fam),
            put("rescans", f"{stem}-abbyy.txt", (folder / f"{stem}-ocr.txt").read_bytes(), fam),
        ]
        pairs["rescan"] += list(combinations(keys, 2))
    return dict(cols), {"family": family, "pairs": dict(pairs), "split": split}


def evaluate(
    links: list[tuple[int, int, str, float]],
    doc_key: dict[int, tuple[str, str]],
    gold: dict[str, Any],
    thresholds: dict[str, float],
    only_split: str | None = None,
) -> dict[str, dict[str, float]]:
    fam_of = {doc: gold["family"].get(key) for doc, key in doc_key.items()}
    id_of = {key: doc for doc, key in doc_key.items()}
    split = gold["split"]

    def in_split(doc: int) -> bool:
        f = fam_of.get(doc)
        return only_split is None or f is None or split.get(f, "test") == only_split

    kept = [
        (a, b, k.removesuffix("_image"), s)
        for a, b, k, s in links
        if s >= thresholds[k] - 1e-9 and in_split(a) and in_split(b)
    ]
    linked = {(min(a, b), max(a, b)) for a, b, _, _ in kept}
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, _, _ in kept:
        parent[find(a)] = find(b)
    out: dict[str, dict[str, float]] = {}
    for kind in ("copy", "edited_copy", "rescan", "translation"):
        mine = [(a, b) for a, b, k, _ in kept if k == kind]
        correct = sum(1 for a, b in mine if fam_of.get(a) is not None and fam_of.get(a) == fam_of.get(b))
        gp = [
            (id_of[x], id_of[y])
            for x, y in gold["pairs"].get(kind, [])
            if x in id_of and y in id_of and in_split(id_of[x])
        ]
        found = sum(1 for a, b in gp if (min(a, b), max(a, b)) in linked)
        connected = sum(1 for a, b in gp if find(a) == find(b))
        out[kind] = {
            "links": len(mine),
            "precision": round(correct / len(mine), 4) if mine else float("nan"),
            "gold_pairs": len(gp),
            "recall": round(found / len(gp), 4) if gp else float("nan"),
            "family_recall": round(connected / len(gp), 4) if gp else float("nan"),
        }
    return out


def calibrate(
    links: list[tuple[int, int, str, float]],
    doc_key: dict[int, tuple[str, str]],
    gold: dict[str, Any],
    kind: str,
    target: float,
) -> float:
    """The lowest threshold of ``kind`` at which precision on the calibration half is ≥ target."""
    scores = sorted({s for _, _, k, s in links if k == kind})
    base = {"copy": 0.0, "edited_copy": 0.0, "rescan": 0.0, "rescan_image": 0.0, "translation": 0.0}
    for t in scores:
        res = evaluate(links, doc_key, gold, {**base, kind: t}, only_split="calibration")[kind]
        if res["links"] and res["precision"] >= target:
            return t
    return scores[-1] if scores else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ntrex", type=int, default=60)
    ap.add_argument("--pages", type=int, default=6)
    ap.add_argument("--seed", type=int, default=19)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--no-soviet", action="store_true", help="leave out the Soviet scans (quick runs)")
    args = ap.parse_args()

    from sqlalchemy import select

    from archive_search.catalog.models import Collection, Document, Page
    from archive_search.settings import Settings
    from ingest import families as fam
    from search_api.service import ArchiveService

    work = Path(tempfile.mkdtemp(prefix="families-bench-"))
    cols, gold = build_dev_set(work / "files", args.ntrex, args.pages, args.seed, soviet=not args.no_soviet)
    n_files = sum(len(v) for v in cols.values())
    print(f"dev set: {n_files} files in {len(cols)} collections under {work}", flush=True)
    settings = Settings(data_dir=work / "data", backend="embedded")
    svc = ArchiveService(settings)
    t0 = time.perf_counter()
    for col, paths in cols.items():
        rep = svc.ingest(paths, col)
        print(f"ingested {col}: {rep.counts()}", flush=True)
    t_ingest = time.perf_counter() - t0
    t0 = time.perf_counter()
    svc.embed_pending()
    t_embed = time.perf_counter() - t0
    # 1. every candidate with its score (thresholds lowered): for the calibration and the margins
    saved = (fam.TEXT_THRESHOLD, fam.IMAGE_MAX_DISTANCE, fam.TRANSLATION_THRESHOLD)
    fam.TEXT_THRESHOLD, fam.IMAGE_MAX_DISTANCE, fam.TRANSLATION_THRESHOLD = 0.05, 128, -1.0
    svc.jobs.families().rebuild()
    fam.TEXT_THRESHOLD, fam.IMAGE_MAX_DISTANCE, fam.TRANSLATION_THRESHOLD = saved
    links = _links(svc)
    # 2. the links as the code builds them (its thresholds), timed: the cost per document
    builder = svc.jobs.families()
    t0 = time.perf_counter()
    report = builder.rebuild()
    t_families = time.perf_counter() - t0
    final = _links(svc)
    with svc.catalog.session() as s:
        doc_key = {
            int(d): (c, f)
            for d, c, f in s.execute(
                select(Document.id, Collection.name, Document.filename).join(
                    Collection, Collection.id == Document.collection_id
                )
            ).all()
        }
        ocr_docs = len(set(s.scalars(select(Page.document_id).where(Page.method == "ocr"))))
    image_links = [(a, b, k, sc) for a, b, k, sc in links]
    # the image distance threshold is in bits: scores are 1 - bits/256
    current = {
        "copy": 1.0,
        "edited_copy": fam.TEXT_THRESHOLD,
        "rescan": fam.TEXT_THRESHOLD,
        "rescan_image": 1 - fam.IMAGE_MAX_DISTANCE / fam.IMAGE_BITS,
        "translation": fam.TRANSLATION_THRESHOLD,
    }
    calibrated = {
        "translation": calibrate(links, doc_key, gold, "translation", 0.95),
    }
    result = {
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"Python {platform.python_version()}",
        "embedder": settings.embedder,
        "files": n_files,
        "documents": len(doc_key),
        "ocr_documents": ocr_docs,
        "seconds": {
            "ingest": round(t_ingest, 1),
            "embed": round(t_embed, 1),
            "families": round(t_families, 2),
        },
        "families_ms_per_document": round(1000 * t_families / max(1, len(doc_key)), 2),
        "report": report.as_dict(),
        "thresholds_in_code": current,
        "calibrated_on_calibration_half": calibrated,
        "at_code_thresholds": {
            "all": evaluate(final, doc_key, gold, NO_FILTER),
            "calibration": evaluate(final, doc_key, gold, NO_FILTER, only_split="calibration"),
            "test": evaluate(final, doc_key, gold, NO_FILTER, only_split="test"),
        },
        "candidates_filtered_at_code_thresholds_test": evaluate(
            links, doc_key, gold, current, only_split="test"
        ),
        "score_distributions": _distributions(image_links, doc_key, gold),
        "corroboration": _corroboration(svc, doc_key, gold),
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    svc.close()


NO_FILTER = {"copy": 0.0, "edited_copy": 0.0, "rescan": 0.0, "rescan_image": 0.0, "translation": -1.0}


def _links(svc: Any) -> list[tuple[int, int, str, float]]:
    """(a, b, kind, score) of every link; image re-scans as kind ``rescan_image`` (their score is
    1 - bits/256, not a Jaccard)."""
    from sqlalchemy import select

    from archive_search.catalog.models import FamilyLink

    with svc.catalog.session() as s:
        return [
            (int(a), int(b), k + ("_image" if '"bits"' in det else ""), float(sc))
            for a, b, k, sc, det in s.execute(
                select(
                    FamilyLink.doc_a, FamilyLink.doc_b, FamilyLink.kind, FamilyLink.score, FamilyLink.details
                )
            ).all()
        ]


def _corroboration(svc: Any, doc_key: dict[int, tuple[str, str]], gold: dict[str, Any]) -> dict[str, float]:
    """The dev corroboration cases: for the first passage of each NTREX document in English, the
    top 10 similar passages (as an administrator, exclude=document) as before (one per document)
    and grouped by source. Counts per query: hits that are the same source as the query (copies
    and translations: counted as corroboration before), independent sources, and labelling errors
    (an entry labelled independent that is the query's own source, or same source that is not)."""
    from sqlalchemy import select

    from archive_search.catalog.models import Passage
    from archive_search.types import LOCAL_ADMIN, SimilarOptions

    fam_of = {doc: gold["family"].get(key) for doc, key in doc_key.items()}
    queries = [d for d, (c, f) in doc_key.items() if c == "reports" and f.endswith("-en.txt")]
    raw_same = raw_n = grp_n = grp_indep = wrong = raw_sources = 0
    options = SimilarOptions(size=10, exclude="document")
    for d in queries:
        with svc.catalog.session() as s:
            pid = s.scalar(select(Passage.id).where(Passage.document_id == d).order_by(Passage.seq))
        if pid is None:
            continue
        raw = svc.similar_passages(pid, LOCAL_ADMIN, options)["hits"]
        grp = svc.similar_by_source(pid, LOCAL_ADMIN, options)["hits"]
        raw_n += len(raw)
        raw_same += sum(1 for h in raw if fam_of.get(int(h.document_id)) == fam_of[d])
        raw_sources += len({fam_of.get(int(h.document_id)) or h.document_id for h in raw} - {fam_of[d]})
        grp_n += len(grp)
        for h in grp:
            same = fam_of.get(int(h.document_id)) == fam_of[d]
            label_same = h.source is not None and h.source.relation == "same_source"
            grp_indep += 0 if label_same else 1
            wrong += int(same != label_same)
    n = max(1, len(queries))
    return {
        "queries": len(queries),
        "before_hits_per_query": round(raw_n / n, 2),
        "before_same_source_hits_per_query": round(raw_same / n, 2),
        "before_true_independent_sources_per_query": round(raw_sources / n, 2),
        "grouped_entries_per_query": round(grp_n / n, 2),
        "grouped_independent_per_query": round(grp_indep / n, 2),
        "grouped_label_errors": wrong,
    }


def _distributions(
    links: list[tuple[int, int, str, float]], doc_key: dict[int, tuple[str, str]], gold: dict[str, Any]
) -> dict[str, dict[str, list[float]]]:
    """Per kind: the scores of the true links and the highest scores of the false ones (to show
    the margin the thresholds sit in)."""
    fam_of = {doc: gold["family"].get(key) for doc, key in doc_key.items()}
    out: dict[str, dict[str, list[float]]] = {}
    for kind in ("edited_copy", "rescan", "rescan_image", "translation"):
        true = sorted(s for a, b, k, s in links if k == kind and fam_of.get(a) == fam_of.get(b))
        false = sorted(
            (s for a, b, k, s in links if k == kind and fam_of.get(a) != fam_of.get(b)), reverse=True
        )
        out[kind] = {
            "true_lowest": [round(x, 4) for x in true[:8]],
            "false_highest": [round(x, 4) for x in false[:8]],
        }
    return out


if __name__ == "__main__":
    main()
