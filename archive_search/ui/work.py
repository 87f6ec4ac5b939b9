"""Research pages of the web interface: selections (tag, add to case), case files and their export,
batch search, saved searches, uploads and the admin pages.

Everything goes through the service objects (``CaseService``, ``build_bundle``, ``BatchRunner``,
``SavedSearches``, ``Accounts``, ``ArchiveService.ingest``) with the signed-in principal, so the
access rules are the API's. Every POST checks the CSRF token first.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask

from archive_search.errors import (
    ArchiveError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from archive_search.search_api.access import EDITOR_ROLES
from archive_search.search_api.account_admin import AccountAdmin
from archive_search.search_api.batch import (
    SYNC_LIMIT,
    BatchOptions,
    Entry,
    check_entries,
    entries_from_csv,
    results_csv,
    run_batch,
)
from archive_search.search_api.cases import (
    CaseCreate,
    CaseItemCreate,
    CaseItemsAdd,
    CaseItemsOrder,
    CaseItemUpdate,
    CaseNoteCreate,
    CaseUpdate,
)
from archive_search.search_api.collections import CollectionAdmin
from archive_search.search_api.export import build_bundle
from archive_search.search_api.export_store import EXPORT_TTL_S, ExportStore
from archive_search.search_api.tags import TagApply
from archive_search.search_api.uploads import Uploads
from archive_search.types import Principal
from archive_search.ui.routes import (
    _not_found,
    _principal,
    _secure,
    _service,
    _to_login,
    _translator,
    render,
    safe_next,
)
from archive_search.ui.session import csrf_ok

router = APIRouter(include_in_schema=False)
MAX_BATCH_TEXT = 1_000_000
MAX_CSV_BYTES = 5 * 1024 * 1024
NOTICES = (
    "tagged",
    "added",
    "case_created",
    "note_added",
    "item_saved",
    "item_removed",
    "moved",
    "status_saved",
    "saved",
    "deleted",
    "user_created",
    "user_saved",
    "group_created",
    "member_added",
    "member_removed",
    "granted",
    "revoked",
    # ui/manage.py
    "case_member_saved",
    "case_member_removed",
    "tag_renamed",
    "tag_merged",
    "tag_deleted",
    "collection_created",
    "collection_saved",
)

Csrf = Annotated[str, Form(alias="csrf_token")]


# -- helpers ---------------------------------------------------------------------------------


def can_edit(principal: Principal) -> bool:
    return principal.role in EDITOR_ROLES


def _with_notice(target: str, notice: str, **extra: str | int) -> str:
    sep = "&" if "?" in target else "?"
    return f"{target}{sep}{urlencode({'notice': notice, **extra})}"


def _redirect(target: str) -> Response:
    return _secure(RedirectResponse(target, status_code=303))


def _flash(request: Request) -> dict[str, Any]:
    """The confirmation to show after a change (``?notice=KEY&n=N`` on the redirect)."""
    n = request.query_params.get("notice", "")
    try:
        count = int(request.query_params.get("n", "0"))
    except ValueError:
        count = 0
    return {"flash": n if n in NOTICES else None, "flash_n": count}


def _refused(request: Request, principal: Principal | None) -> Response:
    return render(
        request,
        "error.html",
        principal=principal,
        status=403,
        title_key="forbidden_title",
        message_key="csrf_failed",
    )


def _failed(request: Request, principal: Principal, exc: ArchiveError) -> Response:
    """A refused change: the service's message on an error page with its status."""
    if isinstance(exc, NotFoundError):
        return _not_found(request, principal)
    if exc.status >= 500:
        raise exc
    return render(
        request,
        "error.html",
        principal=principal,
        status=exc.status,
        title_key="forbidden_title" if isinstance(exc, ForbiddenError) else "error_title",
        message_key="action_failed",
        detail=exc.message,
    )


def _invalid(request: Request, principal: Principal, exc: ValidationError) -> Response:
    msgs = "; ".join(str(e.get("msg", "")) for e in exc.errors()[:3])
    return _failed(request, principal, InvalidRequestError(msgs))


def _post_guard(request: Request, token: str) -> tuple[Principal | None, Response | None]:
    """(principal, None) for a signed-in user with a valid CSRF token; else (_, the answer)."""
    principal = _principal(request)
    if principal is None:
        return None, _to_login(request)
    if not csrf_ok(request, token):
        return principal, _refused(request, principal)
    return principal, None


def _int_list(values: list[str]) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except ValueError:
            continue
    return list(dict.fromkeys(out))


def editable_cases(request: Request, principal: Principal) -> list[Any]:
    """Open cases the principal may add items to."""
    if not can_edit(principal):
        return []
    return [
        c
        for c in _service(request).cases.list_cases(principal, status="open")
        if c.access in ("admin", "owner", "edit")
    ]


# -- selections from the result list and the viewer -------------------------------------------


@router.post("/selection")
async def selection(request: Request) -> Response:
    """Tag the selected results' documents, or add their passages to a case (with the query)."""
    form = await request.form()
    principal, refused = _post_guard(request, str(form.get("csrf_token", "")))
    if refused is not None or principal is None:
        return refused or _to_login(request)
    svc = _service(request)
    back = safe_next(str(form.get("next", "/")))
    picked = [str(v) for v in form.getlist("hit")]
    doc_ids = _int_list([p.split(":")[0] for p in picked] + [str(v) for v in form.getlist("document")])
    passage_ids = _int_list([p.split(":")[1] for p in picked if ":" in p])
    action = str(form.get("action", ""))
    query = str(form.get("q", ""))[:4000] or None
    t = _translator(request)
    try:
        if not doc_ids:
            raise InvalidRequestError(t("nothing_selected"))
        if action == "tag":
            names = [n.strip() for n in str(form.get("tag", "")).split(",") if n.strip()]
            if not names:
                raise InvalidRequestError(t("tag_needed"))
            res = svc.tags.apply_tags(TagApply(names=names, document_ids=doc_ids), principal)
            return _redirect(_with_notice(back, "tagged", n=res.changed))
        if action == "case":
            case_id = _int_list([str(form.get("case_id", ""))])
            new_title = str(form.get("new_case", "")).strip()
            if new_title:
                case_id = [svc.cases.create_case(CaseCreate(title=new_title[:300]), principal).id]
            if not case_id:
                raise InvalidRequestError(t("case_needed"))
            items = (
                [CaseItemCreate(passage_id=p, query=query) for p in passage_ids]
                if passage_ids
                else [CaseItemCreate(document_id=d, query=query) for d in doc_ids]
            )
            svc.cases.add_items(case_id[0], CaseItemsAdd(items=items), principal)
            return _redirect(_with_notice(f"/cases/{case_id[0]}", "added", n=len(items)))
        raise InvalidRequestError("unknown action")
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)


# -- cases -----------------------------------------------------------------------------------

CASE_STATUSES = ("open", "closed", "archived")


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    cases = _service(request).cases.list_cases(principal)
    return render(
        request,
        "cases.html",
        principal=principal,
        cases=cases,
        can_edit=can_edit(principal),
        **_flash(request),
    )


@router.post("/cases")
def case_create(
    request: Request,
    csrf: Csrf = "",
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        case = _service(request).cases.create_case(
            CaseCreate(title=title.strip(), description=description.strip() or None), principal
        )
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case.id}", "case_created"))


def export_store(request: Request) -> ExportStore:
    """Built bundles in the data folder: any worker process serves the download (export_store.py)."""
    return ExportStore(_service(request).settings.data_dir / "exports", ttl_s=EXPORT_TTL_S)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        case = _service(request).cases.get_case(case_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    export = None
    key = request.query_params.get("export", "")
    if key:
        export = export_store(request).get(key, user=principal.name, case_id=case_id)
    writable = case.access in ("admin", "owner", "edit") and can_edit(principal)
    return render(
        request,
        "case.html",
        principal=principal,
        case=case,
        writable=writable,
        manage_members=case.access in ("admin", "owner"),
        open_for_changes=writable and case.status == "open",
        statuses=CASE_STATUSES,
        export=export,
        **_flash(request),
    )


@router.post("/cases/{case_id}/status")
def case_status(
    request: Request, case_id: int, csrf: Csrf = "", status: Annotated[str, Form()] = ""
) -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        _service(request).cases.update_case(case_id, CaseUpdate.model_validate({"status": status}), principal)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "status_saved"))


@router.post("/cases/{case_id}/notes")
def case_note(request: Request, case_id: int, csrf: Csrf = "", text: Annotated[str, Form()] = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        _service(request).cases.add_note(case_id, CaseNoteCreate(text=text.strip()), principal)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "note_added") + "#notes")


@router.post("/cases/{case_id}/items/{item_id}/note")
def item_note(
    request: Request, case_id: int, item_id: int, csrf: Csrf = "", note: Annotated[str, Form()] = ""
) -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        _service(request).cases.update_item(
            case_id, item_id, CaseItemUpdate(note=note.strip() or None), principal
        )
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "item_saved") + f"#item-{item_id}")


@router.post("/cases/{case_id}/items/{item_id}/move")
def item_move(
    request: Request, case_id: int, item_id: int, csrf: Csrf = "", direction: Annotated[str, Form()] = ""
) -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    cases = _service(request).cases
    try:
        ids = [i.id for i in cases.list_items(case_id, principal)]
        if item_id not in ids:
            raise NotFoundError(f"item {item_id} not found")
        i = ids.index(item_id)
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(ids):
            ids[i], ids[j] = ids[j], ids[i]
            cases.reorder_items(case_id, CaseItemsOrder(item_ids=ids), principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "moved") + f"#item-{item_id}")


@router.post("/cases/{case_id}/items/{item_id}/remove")
def item_remove(request: Request, case_id: int, item_id: int, csrf: Csrf = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        _service(request).cases.remove_item(case_id, item_id, principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "item_removed"))


@router.post("/cases/{case_id}/export")
def case_export(request: Request, case_id: int, csrf: Csrf = "") -> Response:
    """Build the bundle now (audited by ``build_bundle``), then show its SHA-256 and a download link."""
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    store = export_store(request)
    try:
        res = build_bundle(_service(request).cases, case_id, principal, directory=store.directory())
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    rec = store.put(res, user=principal.name, case_id=case_id)
    return _redirect(f"/cases/{case_id}?{urlencode({'export': rec.key})}#export")


@router.get("/cases/{case_id}/export/{key}")
def case_export_download(request: Request, case_id: int, key: str) -> Response:
    """The bundle, once, to its exporter, from whichever process built it (export_store.py)."""
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:  # still allowed to see the case (a membership may have ended since the export)
        _service(request).cases.get_case(case_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    taken = export_store(request).take(key, user=principal.name, case_id=case_id)
    if taken is None:
        return _not_found(request, principal)
    rec, path = taken
    resp = FileResponse(
        path,
        media_type="application/zip",
        filename=rec.filename,
        headers={"X-Content-SHA256": rec.sha256, "X-Manifest-SHA256": rec.manifest_sha256},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
    return _secure(resp, cache="private, no-store")


# -- batch search ----------------------------------------------------------------------------


def _entries_from_text(text: str) -> list[Entry]:
    lines = [ln.strip() for ln in text.splitlines()]
    return [Entry(id=str(n), text=ln[:500]) for n, ln in enumerate((x for x in lines if x), start=1)]


@router.get("/batch", response_class=HTMLResponse)
def batch_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    return render(
        request,
        "batch.html",
        principal=principal,
        results=None,
        names="",
        match="all",
        error=None,
        sync_limit=SYNC_LIMIT,
    )


@router.post("/batch", response_class=HTMLResponse)
async def batch_submit(request: Request) -> Response:
    form = await request.form()
    principal, refused = _post_guard(request, str(form.get("csrf_token", "")))
    if refused is not None or principal is None:
        return refused or _to_login(request)
    svc = _service(request)
    t = _translator(request)
    names = str(form.get("names", ""))[:MAX_BATCH_TEXT]
    match = str(form.get("match", "all"))
    match = match if match in ("all", "any", "phrase") else "all"
    upload = form.get("file")
    try:
        entries: list[Entry] = []
        if isinstance(upload, UploadFile) or hasattr(upload, "read"):
            data = await upload.read(MAX_CSV_BYTES + 1)  # type: ignore[union-attr]
            if len(data) > MAX_CSV_BYTES:
                raise InvalidRequestError(t("csv_too_large"))
            if data.strip():
                entries = entries_from_csv(data)
        if not entries:
            entries = check_entries(_entries_from_text(names))
        opts = BatchOptions(match=match, size=3)  # type: ignore[arg-type]
    except ArchiveError as exc:
        return render(
            request,
            "batch.html",
            principal=principal,
            status=exc.status,
            results=None,
            names=names,
            match=match,
            error=exc.message,
            sync_limit=SYNC_LIMIT,
        )
    details = {"batch": True, "count": len(entries), "entries": [e.text for e in entries[:1000]], "ui": True}
    svc.cases.audit.record(principal.name, "search", None, None, {**details, **opts.to_json()})
    if str(form.get("format", "")) == "csv" and len(entries) <= SYNC_LIMIT:
        return _csv_response(run_batch(svc, entries, principal, opts), "batch.csv")
    if len(entries) > SYNC_LIMIT:
        job_id = svc.batch.submit(principal, entries, opts)
        return _redirect(f"/batch/jobs/{job_id}")
    results = run_batch(svc, entries, principal, opts)
    return render(
        request,
        "batch.html",
        principal=principal,
        results=results,
        names=names or "\n".join(e.text for e in entries),
        match=match,
        error=None,
        sync_limit=SYNC_LIMIT,
    )


def _csv_response(results: list[dict[str, Any]], filename: str) -> Response:
    body = "\ufeff" + results_csv(results)
    return _secure(
        Response(
            body.encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        ),
        cache="private, no-store",
    )


@router.get("/batch/jobs/{job_id}", response_class=HTMLResponse)
def batch_job_page(request: Request, job_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        job = _service(request).batch.get(job_id, principal)
    except ArchiveError:
        return _not_found(request, principal)
    results = None
    if job.status == "done" and job.results is not None:
        results = [x for x in job.results if isinstance(x, dict)]
    return render(
        request,
        "batch_job.html",
        principal=principal,
        job=job,
        results=results,
        refresh=job.status in ("queued", "running"),
    )


@router.get("/batch/jobs/{job_id}/results.csv")
def batch_job_csv(request: Request, job_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        job = _service(request).batch.get(job_id, principal)
        if job.status != "done" or job.results is None:
            raise ConflictError(f"the job is {job.status}")
    except ArchiveError:
        return _not_found(request, principal)
    return _csv_response([x for x in job.results if isinstance(x, dict)], f"batch-{job.id}.csv")


# -- saved searches --------------------------------------------------------------------------

# the search page's parameter names → the saved search's (SearchRequest's) names
SAVED_PARAMS = {"lang": "lang", "collection": "collections", "type": "types", "tag": "tags"}


@router.get("/saved", response_class=HTMLResponse)
def saved_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        rows = _service(request).saved.list(principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return render(request, "saved.html", principal=principal, saved=rows, **_flash(request))


@router.post("/saved")
async def saved_create(request: Request) -> Response:
    form = await request.form()
    principal, refused = _post_guard(request, str(form.get("csrf_token", "")))
    if refused is not None or principal is None:
        return refused or _to_login(request)
    q = str(form.get("q", ""))[:4000]
    name = str(form.get("name", "")).strip() or q or "search"
    mode = str(form.get("mode", "hybrid"))
    params: dict[str, Any] = {"mode": mode if mode in ("hybrid", "keyword", "semantic") else "hybrid"}
    for field, key in SAVED_PARAMS.items():
        params[key] = [str(v) for v in form.getlist(field) if str(v)][:50]
    try:
        _service(request).saved.create(principal, name[:200], q, params)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/saved", "saved"))


@router.post("/saved/{saved_id}/delete")
def saved_delete(request: Request, saved_id: int, csrf: Csrf = "") -> Response:
    principal, refused = _post_guard(request, csrf)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        _service(request).saved.delete(principal, saved_id)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/saved", "deleted"))


def saved_search_url(row: dict[str, Any]) -> str:
    """The search page's URL for a saved search."""
    params: list[tuple[str, str]] = [("q", str(row.get("query", "")))]
    p = row.get("params") or {}
    if p.get("mode") and p["mode"] != "hybrid":
        params.append(("mode", str(p["mode"])))
    for field, key in SAVED_PARAMS.items():
        params += [(field, str(v)) for v in p.get(key) or []]
    return "/?" + urlencode(params)


@router.get("/saved/{saved_id}", response_class=HTMLResponse)
def saved_open(request: Request, saved_id: int) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    rows = {r["id"]: r for r in _service(request).saved.list(principal)}
    row = rows.get(str(saved_id))
    if row is None:
        return _not_found(request, principal)
    return _redirect(saved_search_url(row))


@router.get("/saved/{saved_id}/new", response_class=HTMLResponse)
def saved_new(request: Request, saved_id: int) -> Response:
    """What is new since last viewed (marks it seen)."""
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    svc = _service(request)
    try:
        row = next((r for r in svc.saved.list(principal) if r["id"] == str(saved_id)), None)
        if row is None:
            raise NotFoundError(f"saved search {saved_id} not found")
        res = svc.saved.run_new(principal, saved_id, size=50)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    svc.cases.audit.record(
        principal.name, "search", "saved_search", saved_id, {"new": True, "total": res.total}
    )
    return render(
        request, "saved_new.html", principal=principal, row=row, resp=res, search_url=saved_search_url(row)
    )


# -- uploads ---------------------------------------------------------------------------------


def writable_collections(request: Request, principal: Principal) -> list[str]:
    svc = _service(request)
    if principal.writable is None:
        names = {c["name"] for c in svc.collections(principal)} | {svc.settings.default_collection}
        return sorted(names)
    return sorted(principal.writable)


@router.get("/upload", response_class=HTMLResponse)
def upload_page(request: Request) -> Response:
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    cols = writable_collections(request, principal)
    if not cols:
        return _not_found(request, principal)
    return render(request, "upload.html", principal=principal, collections=cols, chosen=None)


@router.post("/upload", response_class=HTMLResponse)
async def upload_submit(request: Request) -> Response:
    form = await request.form()
    principal, refused = _post_guard(request, str(form.get("csrf_token", "")))
    if refused is not None or principal is None:
        return refused or _to_login(request)
    cols = writable_collections(request, principal)
    target = str(form.get("collection", ""))
    if not cols:
        return _not_found(request, principal)
    if target not in cols or not principal.can_write(target):
        return _failed(
            request, principal, ForbiddenError(f"you may not add documents to collection {target!r}")
        )
    files = [f for f in form.getlist("files") if not isinstance(f, str) and f.filename]
    if not files:
        return render(
            request,
            "upload.html",
            principal=principal,
            collections=cols,
            chosen=target,
            status=400,
            error=_translator(request)("no_files"),
        )
    with tempfile.TemporaryDirectory(prefix="archive-ui-upload-") as tmp:
        staged: list[tuple[Path, str]] = []
        for n, f in enumerate(files):
            name = Path(str(f.filename).replace("\\", "/")).name
            if name in ("", ".", ".."):
                name = "upload"
            folder = Path(tmp) / str(n)  # one folder per file: two uploads may share a name
            folder.mkdir()
            dest = folder / name
            with dest.open("wb") as out:
                shutil.copyfileobj(f.file, out)  # type: ignore[union-attr]
            staged.append((dest, name))
        # the originals go into the store and one queued item per file into a job; the files are
        # then worked in the background and the job's page follows them (search_api/uploads.py)
        job_id = uploads(request).submit(staged, target, principal)
    return _redirect(f"/upload/jobs/{job_id}")


def uploads(request: Request) -> Uploads:
    """This process's upload jobs (one per app, made on first use)."""
    app = request.app
    with _uploads_lock:
        if getattr(app.state, "uploads", None) is None:
            app.state.uploads = Uploads(_service(request))
        up: Uploads = app.state.uploads
    return up


_uploads_lock = threading.Lock()


def upload_status(request: Request, job_id: int, principal: Principal) -> dict[str, Any]:
    """The job's status with each state's label in the interface language."""
    st = uploads(request).status(job_id, principal)
    t = _translator(request)
    for f in st["files"]:
        f["label"] = (
            t("state_" + f["state"]) if f["state"] in ("queued", "running") else t("outcome_" + f["state"])
        )
    c = st["counts"]
    st["summary"] = t(
        "upload_state_counts",
        queued=t.num(c["queued"]),
        running=t.num(c["running"]),
        ok=t.num(c["ok"]),
        failed=t.num(c["failed"]),
        skipped=t.num(c["skipped"]),
    )
    st["duplicate_label"] = t("duplicate")
    return st


@router.get("/upload/jobs/{job_id}", response_class=HTMLResponse)
def upload_job_page(request: Request, job_id: int) -> Response:
    """Each file of an upload with its state; the page follows it (app.js polls the JSON)."""
    principal = _principal(request)
    if principal is None:
        return _to_login(request)
    try:
        st = upload_status(request, job_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    return render(request, "upload_job.html", principal=principal, job=st)


@router.get("/upload/jobs/{job_id}/status.json")
def upload_job_json(request: Request, job_id: int) -> Response:
    """The same as JSON (the uploader's only; 404 otherwise, 401 without a session)."""
    principal = _principal(request)
    if principal is None:
        return _secure(
            JSONResponse({"error": {"code": "unauthorized", "message": "log in"}}, status_code=401)
        )
    try:
        st = upload_status(request, job_id, principal)
    except NotFoundError as exc:
        return _secure(JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=404))
    return _secure(JSONResponse(st), cache="private, no-store")


# -- admin -----------------------------------------------------------------------------------


def _admin_guard(request: Request, token: str | None) -> tuple[Principal | None, Response | None]:
    if token is None:
        principal = _principal(request)
        if principal is None:
            return None, _to_login(request)
        refused: Response | None = None
    else:
        principal, refused = _post_guard(request, token)
        if principal is None:
            return None, refused or _to_login(request)
    if refused is None and not principal.is_admin:
        refused = _not_found(request, principal)
    return principal, refused


@router.get("/admin", response_class=HTMLResponse)
def admin_page(request: Request) -> Response:
    principal, refused = _admin_guard(request, None)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    svc = _service(request)
    return render(
        request,
        "admin.html",
        principal=principal,
        users=AccountAdmin(svc.accounts).list_users(),
        groups=AccountAdmin(svc.accounts).list_groups(),
        grants=CollectionAdmin(svc.accounts).grants(),
        collections=AccountAdmin(svc.accounts).collection_names(),
        roles=("viewer", "editor", "admin"),
        permissions=("read", "write", "manage"),
        **_flash(request),
    )


def _admin_do(request: Request, token: str, notice: str, fn: Any) -> Response:
    principal, refused = _admin_guard(request, token)
    if refused is not None or principal is None:
        return refused or _to_login(request)
    try:
        fn(principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice("/admin", notice))


@router.post("/admin/users")
def admin_create_user(
    request: Request,
    csrf: Csrf = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "viewer",
) -> Response:
    def do(p: Principal) -> None:
        svc = _service(request)
        if role not in ("viewer", "editor", "admin"):
            raise InvalidRequestError("unknown role")
        uid = svc.accounts.create_user(username.strip(), password, role=role)  # type: ignore[arg-type]
        svc.cases.audit.record(
            p.name, "grant", "user", uid, {"op": "create_user", "user": username, "role": role}
        )

    return _admin_do(request, csrf, "user_created", do)


@router.post("/admin/users/{username}")
def admin_update_user(
    request: Request,
    username: str,
    csrf: Csrf = "",
    role: Annotated[str, Form()] = "",
    disabled: Annotated[str, Form()] = "",
) -> Response:
    def do(p: Principal) -> None:
        svc = _service(request)
        if username == p.name and (disabled == "1" or (role and role != "admin")):
            raise InvalidRequestError("you cannot disable yourself or take away your own admin role")
        AccountAdmin(svc.accounts).update_user(username, role=role or None, disabled=disabled == "1")
        svc.cases.audit.record(
            p.name,
            "grant",
            "user",
            username,
            {"op": "update_user", "role": role or None, "disabled": disabled == "1"},
        )

    return _admin_do(request, csrf, "user_saved", do)


@router.post("/admin/groups")
def admin_create_group(request: Request, csrf: Csrf = "", name: Annotated[str, Form()] = "") -> Response:
    def do(p: Principal) -> None:
        svc = _service(request)
        gid = svc.accounts.create_group(name.strip())
        svc.cases.audit.record(p.name, "grant", "group", gid, {"op": "create_group", "group": name})

    return _admin_do(request, csrf, "group_created", do)


@router.post("/admin/groups/{group}/members")
def admin_add_member(
    request: Request, group: str, csrf: Csrf = "", username: Annotated[str, Form()] = ""
) -> Response:
    def do(p: Principal) -> None:
        svc = _service(request)
        svc.accounts.add_to_group(group, username.strip())
        svc.cases.audit.record(p.name, "grant", "group", group, {"op": "add_member", "user": username})

    return _admin_do(request, csrf, "member_added", do)


@router.post("/admin/groups/{group}/members/{username}/remove")
def admin_remove_member(request: Request, group: str, username: str, csrf: Csrf = "") -> Response:
    def do(p: Principal) -> None:
        svc = _service(request)
        svc.accounts.remove_from_group(group, username)
        svc.cases.audit.record(p.name, "grant", "group", group, {"op": "remove_member", "user": username})

    return _admin_do(request, csrf, "member_removed", do)


def _grantee(value: str) -> dict[str, str]:
    kind, _, name = value.partition(":")
    if kind not in ("user", "group") or not name:
        raise InvalidRequestError("choose a user or a group")
    return {kind: name}


@router.post("/admin/grants")
def admin_grant(
    request: Request,
    csrf: Csrf = "",
    collection: Annotated[str, Form()] = "",
    grantee: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    def do(p: Principal) -> None:
        if not collection.strip():
            raise InvalidRequestError("choose a collection")
        _service(request).accounts.grant(collection.strip(), permission, actor=p.name, **_grantee(grantee))

    return _admin_do(request, csrf, "granted", do)


@router.post("/admin/grants/revoke")
def admin_revoke(
    request: Request,
    csrf: Csrf = "",
    collection: Annotated[str, Form()] = "",
    grantee: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    def do(p: Principal) -> None:
        _service(request).accounts.revoke(collection, permission, actor=p.name, **_grantee(grantee))

    return _admin_do(request, csrf, "revoked", do)
