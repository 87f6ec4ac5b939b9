"""Copies of one text tied as a translation's nearest partner (issue 19): the translation link goes
to the earliest of them, whatever the last bits of their vectors (a copy embedded in another batch
differs from the original there; which one won used to depend on them, and a reader of the
original's collection then lost the family of original, copy and translation)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy import select, update

from archive_search.catalog.models import Document, DocumentFingerprint, FamilyLink
from archive_search.settings import Settings
from ingest.families import FamilyReport
from search_api.service import ArchiveService
from tests.ingest.test_families import EN, RU


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v)).astype(np.float32)


def test_a_translation_links_the_earliest_of_tied_copies(tmp_path: Path) -> None:
    svc = ArchiveService(Settings(data_dir=tmp_path / "data", embedder="none"))
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    (first / "statement-en.txt").write_text(EN + "\n", "utf-8")
    (first / "statement-ru.txt").write_text(RU + "\n", "utf-8")
    (later / "copy-en.txt").write_text(EN + "\n", "utf-8")
    svc.ingest([first], "first")
    svc.ingest([later], "later")
    with svc.catalog.session() as s:
        ids = {name: int(i) for i, name in s.execute(select(Document.id, Document.filename)).all()}
    assert ids["statement-en.txt"] < ids["copy-en.txt"]
    e = np.eye(384)
    ru = _unit(e[0])
    en = _unit(0.87 * e[0] + np.sqrt(1 - 0.87**2) * e[1])
    # the copy a hair nearer the Russian text, in the last bits only
    copy = _unit(en.astype(np.float64) + 1e-5 * e[0])
    assert float(copy @ ru) > float(en @ ru) and float(copy @ ru) - float(en @ ru) < 1e-5
    with svc.catalog.session() as s:
        for name, vec in (("statement-en.txt", en), ("statement-ru.txt", ru), ("copy-en.txt", copy)):
            s.execute(
                update(DocumentFingerprint)
                .where(DocumentFingerprint.document_id == ids[name])
                .values(vector=vec.tobytes())
            )
    for order in (sorted(ids.values()), sorted(ids.values(), reverse=True)):
        svc.jobs.families()._link_translations(order, FamilyReport())
        with svc.catalog.session() as s:
            links = {
                frozenset((a, b))
                for a, b in s.execute(
                    select(FamilyLink.doc_a, FamilyLink.doc_b).where(FamilyLink.kind == "translation")
                ).all()
            }
        assert links == {frozenset((ids["statement-en.txt"], ids["statement-ru.txt"]))}
    svc.close()
