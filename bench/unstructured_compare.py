"""`unstructured` (the design card's partitioners) against the current path (issue 16, part 4):
the standard-library e-mail reader and the extractors (Tika for office formats and HTML, pdfminer
and Tesseract for PDFs), on real e-mails and documents: correctness, speed, install size, and
whether it runs offline.

    python3 -m venv /tmp/unst && /tmp/unst/bin/pip install unstructured          # the card package
    PYTHONPATH=. .venv/bin/python bench/unstructured_compare.py --unstructured-python /tmp/unst/bin/python

Inputs: the e-mails, office files, web page and PDFs of ``../shared/data/aleph-ingest-fixtures``
plus e-mails built here the way archive mail looks (Cyrillic in KOI8-R and UTF-8, quoted-printable
and base64 bodies, encoded headers, an HTML alternative, a .docx and an attached e-mail).
Correctness is checked against facts known for each file (header values, attachment names,
phrases of the body), never by comparing one tool with the other. ``unstructured`` runs in its own
virtual environment (it is not a dependency of the service), in a network namespace without
network (``unshare -rn``) to see whether it runs offline; each file's partition is timed in that
process (median of ``--repeat`` runs), as the current path is timed here (the sandboxed extractor
the pipeline calls, warm).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import Any

from archive_search.types import Extraction, SourceFile
from ingest.email_message import parse_email
from ingest.extractors.base import ExtractionError, Limits, Skip
from ingest.registry import default_registry
from ingest.sandbox import run_extractor
from ingest.sniff import sniff_file

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "data" / "aleph-ingest-fixtures" / "files"

WORKER = r'''
import json, sys, time, statistics, traceback
t0 = time.perf_counter()
from unstructured.partition.auto import partition
import_s = time.perf_counter() - t0
files, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
out = {"import_s": import_s, "files": {}}
for f in files:
    rec = {}
    try:
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            kw = {"process_attachments": False} if f.endswith(".eml") else {}
            els = partition(filename=f, **kw)
            times.append(time.perf_counter() - t)
        meta = els[0].metadata.to_dict() if els else {}
        rec = {
            "ok": True,
            "s": statistics.median(times),
            "text": "\n".join(str(e) for e in els),
            "categories": sorted({type(e).__name__ for e in els}),
            "headers": {k: meta.get(k) for k in ("sent_from", "sent_to", "subject") if meta.get(k)},
            "attachments": [
                e.metadata.filename for e in els if getattr(e.metadata, "attached_to_filename", None)
            ],
        }
    except BaseException as exc:
        rec = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    out["files"][f] = rec
print(json.dumps(out))
'''


VERSION = "from unstructured.__version__ import __version__; print(__version__)"


def build_emails(folder: Path) -> dict[str, dict[str, Any]]:
    """E-mails as archive mail comes, with what each must yield."""
    import io
    import zipfile

    docx = io.BytesIO()
    with zipfile.ZipFile(docx, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="r1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
            'officeDocument" Target="word/document.xml"/></Relationships>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            "<w:body><w:p><w:r><w:t>Протокол допиту свідка Коваленко Олени</w:t></w:r></w:p></w:body>"
            "</w:document>",
        )
    out: dict[str, dict[str, Any]] = {}

    m = EmailMessage()
    m["From"] = "Олена Коваленко <olena@example.org>"
    m["To"] = "lawyer@example.org"
    m["Subject"] = "Свідчення про затримання біля блокпоста"
    m.set_content("Мене затримали третього березня біля блокпоста в Бахмуті.\nСвідок: Петро Коваль.\n")
    m.add_alternative("<p>Мене затримали третього березня біля блокпоста в Бахмуті.</p>", subtype="html")
    m.add_attachment(
        docx.getvalue(),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="протокол.docx",
    )
    inner = EmailMessage()
    inner["From"] = "petro@example.org"
    inner["To"] = "olena@example.org"
    inner["Subject"] = "Re: blockpost"
    inner.set_content("I saw the detention on 3 March.\n")
    m.add_attachment(inner)
    (folder / "uk-attachments.eml").write_bytes(m.as_bytes(policy=SMTP))
    out["uk-attachments.eml"] = {
        "headers": ["olena@example.org", "lawyer@example.org", "Свідчення про затримання"],
        "body": ["затримали третього березня", "Петро Коваль"],
        "attachments": ["протокол.docx"],
        "not_in_body": ["Протокол допиту"],  # the attachment's text is a child, not the body
    }

    m = EmailMessage()
    m["From"] = "Редакция <news@example.ru>"
    m["To"] = "archive@example.org"
    m["Subject"] = "Задержание журналиста в Грозном"
    m.set_content("Журналист задержан 12 января 1995 года у здания администрации.\n", charset="koi8-r")
    (folder / "ru-koi8.eml").write_bytes(m.as_bytes(policy=SMTP))
    out["ru-koi8.eml"] = {
        "headers": ["news@example.ru", "Задержание журналиста"],
        "body": ["Журналист задержан 12 января 1995 года"],
        "attachments": [],
    }
    return out


FIXTURE_FACTS: dict[str, dict[str, Any]] = {
    # read off the raw bytes (headers, base64 decoded by hand, unzip of the XML, strings, pdftotext)
    "email_base64.eml": {
        "headers": ["john.doe@example.org", "jane.doe@example.org", "base64 encoded payload"],
        "body": ["Base64 email payload"],
    },
    "testThunderbirdEml.eml": {
        "headers": ["vladimir_l@example.com", "vladimir_l@something.com", "JUnit test message"],
        "body": ["Dear Vladimir"],
        "not_in_body": ["qmail invoked by alias"],  # transport headers are not the message
    },
    "doc.html": {"body": ["Test web page.", "The GitHub page."], "not_in_body": ["GoogleAnalyticsObject"]},
    "hello world word.docx": {"body": ["Hello world"]},
    "Plan.odt": {"body": ["paint graffiti on all corners of Trump tower"]},
    "doc.doc": {"body": ["Sample Word Document Title", "This is a sample Microsoft Word Document."]},
    "file.xlsx": {"body": ["Mihai Viteazul", "Vlad Țepeș"]},
    "twopage.pdf": {"body": ["Page one", "Page two"]},
    "udhr_ger.pdf": {"body": ["Allgemeine Erklärung der Menschenrechte"]},
}


def ours(path: Path, repeat: int) -> dict[str, Any]:
    """The current path: the e-mail reader, or the extractor the registry picks, in the sandbox."""
    mime = sniff_file(path)
    registry = default_registry()
    limits = Limits()
    src = SourceFile(filename=path.name, sha256="0" * 64, size=path.stat().st_size, path=path, mime=mime)
    times: list[float] = []
    try:
        for _ in range(repeat):
            t = time.perf_counter()
            if mime == "message/rfc822":
                parsed = parse_email(path.read_bytes())
                ex: Extraction = parsed.extraction
                attachments = [name for name, _ in parsed.attachments]
                reader = "email (stdlib)"
            else:
                extractor = registry.for_mime(mime)
                if extractor is None:
                    return {"ok": False, "error": f"unsupported {mime}"}
                ex = run_extractor(extractor, src, limits)
                attachments = []
                reader = extractor.name
            times.append(time.perf_counter() - t)
    except (ExtractionError, Skip) as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    text = "\n".join(b.text for b in ex.blocks)
    return {
        "ok": True,
        "s": statistics.median(times),
        "text": text,
        "attachments": attachments,
        "reader": reader,
    }


def score(rec: dict[str, Any], facts: dict[str, Any], *, headers_in_text: bool) -> dict[str, Any]:
    """Facts found: header values (in the text or the header metadata), body phrases, attachment
    names, and text that must not be in the body."""
    if not rec.get("ok"):
        return {"found": 0, "of": 0, "missing": ["(failed)"]}
    text = rec.get("text", "")
    header_text = text if headers_in_text else json.dumps(rec.get("headers", {}), ensure_ascii=False)
    missing: list[str] = []
    n = 0
    for h in facts.get("headers", []):
        n += 1
        if h not in header_text and h not in text:
            missing.append(f"header {h!r}")
    for b in facts.get("body", []):
        n += 1
        if b not in text:
            missing.append(f"body {b!r}")
    for a in facts.get("attachments", []):
        n += 1
        if a not in (rec.get("attachments") or []):
            missing.append(f"attachment {a!r}")
    for x in facts.get("not_in_body", []):
        n += 1
        if x in text:
            missing.append(f"leaked {x!r}")
    return {"found": n - len(missing), "of": n, "missing": missing}


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--unstructured-python", default="/tmp/unst/bin/python")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="unst-compare-"))
    facts = build_emails(work)
    files = [work / n for n in facts]
    for name, known in FIXTURE_FACTS.items():
        if (FIXTURES / name).exists():
            files.append(FIXTURES / name)
            facts[name] = known
    venv = Path(args.unstructured_python).resolve().parents[1]
    site = next(venv.glob("lib/python3*/site-packages"))
    cmd = [args.unstructured_python, "-c", WORKER, json.dumps([str(f) for f in files]), str(args.repeat)]
    offline = subprocess.run(["unshare", "-rn", *cmd], capture_output=True, text=True, timeout=3600)
    online_needed = offline.returncode != 0
    proc = offline if not online_needed else subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    try:
        theirs = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        theirs = {"import_s": None, "files": {}, "error": proc.stderr[-2000:]}
    rows = []
    for f in files:
        mine = ours(f, args.repeat)
        them = theirs["files"].get(str(f), {"ok": False, "error": theirs.get("error", "no answer")})
        rows.append(
            {
                "file": f.name,
                "ours": {
                    "reader": mine.get("reader"),
                    "ok": mine["ok"],
                    "s": mine.get("s"),
                    "chars": len(mine.get("text", "")),
                    "error": mine.get("error"),
                    **score(mine, facts[f.name], headers_in_text=True),
                },
                "unstructured": {
                    "ok": them.get("ok"),
                    "s": them.get("s"),
                    "chars": len(them.get("text", "")),
                    "categories": them.get("categories"),
                    "error": them.get("error"),
                    **score(them, facts[f.name], headers_in_text=False),
                },
            }
        )
    report = {
        "unstructured_version": subprocess.run(
            [args.unstructured_python, "-c", VERSION],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "unstructured_venv_bytes": du(site),
        "unstructured_import_s": theirs.get("import_s"),
        "ran_offline": not online_needed,
        "offline_stderr_tail": offline.stderr[-600:] if online_needed else "",
        "repeat": args.repeat,
        "rows": rows,
    }
    text = json.dumps(report, ensure_ascii=False, indent=1)
    if args.out:
        Path(args.out).write_text(text, "utf-8")
    print(text)


if __name__ == "__main__":
    main()
