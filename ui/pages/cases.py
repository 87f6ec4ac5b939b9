"""Case files: list, create, a case with its items, notes and members, status, item notes and
order, and the evidence bundle (built by ``build_bundle``, downloaded once by its exporter)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from pydantic import ValidationError
from starlette.background import BackgroundTask

from archive_search.errors import (
    ArchiveError,
    NotFoundError,
)
from search_api.bundle_redaction import RedactionRuleBody, get_rule, lift_rule, set_rule
from search_api.cases import (
    CaseCreate,
    CaseItemsOrder,
    CaseItemUpdate,
    CaseMemberCreate,
    CaseNoteCreate,
    CaseUpdate,
)
from search_api.export import build_bundle
from search_api.export_store import EXPORT_TTL_S, ExportStore
from ui.common import (
    SignedIn,
    SignedInForm,
    _do,
    _failed,
    _flash,
    _invalid,
    _not_found,
    _redirect,
    _secure,
    _service,
    _with_notice,
    can_edit,
    render,
)

router = APIRouter(include_in_schema=False)


CASE_STATUSES = ("open", "closed", "archived")


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, principal: SignedIn) -> Response:
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
    principal: SignedInForm,
    title: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
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
def case_page(request: Request, principal: SignedIn, case_id: int) -> Response:
    try:
        case = _service(request).cases.get_case(case_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    _service(request).cases.audit.record(
        principal.name, "view", "case", case_id, {"part": "case", "items": len(case.items), "ui": True}
    )
    export = None
    key = request.query_params.get("export", "")
    if key:
        export = export_store(request).get(key, user=principal.name, case_id=case_id)
    writable = case.access in ("admin", "owner", "edit") and can_edit(principal)
    try:
        rule: dict[str, object] | None = get_rule(_service(request).cases, case_id, principal)
    except NotFoundError:
        rule = None
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
        rule=rule,
        **_flash(request),
    )


@router.post("/cases/{case_id}/status")
def case_status(
    request: Request, principal: SignedInForm, case_id: int, status: Annotated[str, Form()] = ""
) -> Response:
    try:
        _service(request).cases.update_case(case_id, CaseUpdate.model_validate({"status": status}), principal)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "status_saved"))


@router.post("/cases/{case_id}/notes")
def case_note(
    request: Request, principal: SignedInForm, case_id: int, text: Annotated[str, Form()] = ""
) -> Response:
    try:
        _service(request).cases.add_note(case_id, CaseNoteCreate(text=text.strip()), principal)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "note_added") + "#notes")


@router.post("/cases/{case_id}/items/{item_id}/note")
def item_note(
    request: Request, principal: SignedInForm, case_id: int, item_id: int, note: Annotated[str, Form()] = ""
) -> Response:
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
    request: Request,
    principal: SignedInForm,
    case_id: int,
    item_id: int,
    direction: Annotated[str, Form()] = "",
) -> Response:
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
def item_remove(request: Request, principal: SignedInForm, case_id: int, item_id: int) -> Response:
    try:
        _service(request).cases.remove_item(case_id, item_id, principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    return _redirect(_with_notice(f"/cases/{case_id}", "item_removed"))


@router.post("/cases/{case_id}/export")
def case_export(request: Request, principal: SignedInForm, case_id: int) -> Response:
    """Build the bundle now (audited by ``build_bundle``), then show its SHA-256 and a download link."""
    store = export_store(request)
    try:
        res = build_bundle(_service(request).cases, case_id, principal, directory=store.directory())
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    rec = store.put(res, user=principal.name, case_id=case_id)
    return _redirect(f"/cases/{case_id}?{urlencode({'export': rec.key})}#export")


@router.get("/cases/{case_id}/export/{key}")
def case_export_download(request: Request, principal: SignedIn, case_id: int, key: str) -> Response:
    """The bundle, once, to its exporter, from whichever process built it (export_store.py)."""
    try:  # still allowed to see the case (a membership may have ended since the export)
        _service(request).cases.get_case(case_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    taken = export_store(request).take(key, user=principal.name, case_id=case_id)
    if taken is None:  # downloaded already, expired, or not this user's: back to the case, saying so
        return _redirect(_with_notice(f"/cases/{case_id}", "export_gone") + "#export")
    rec, path = taken
    resp = FileResponse(
        path,
        media_type="application/zip",
        filename=rec.filename,
        headers={"X-Content-SHA256": rec.sha256, "X-Manifest-SHA256": rec.manifest_sha256},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
    return _secure(resp, cache="private, no-store")


CASE_PERMISSIONS = ("read", "edit")


@router.post("/cases/{case_id}/redaction-rule")
async def case_rule_set(request: Request, principal: SignedInForm, case_id: int) -> Response:
    """Set the redaction rule of the case's bundles (``search_api/bundle_redaction.py``)."""
    form = await request.form()
    keep = [k.strip() for k in str(form.get("keep", ""))[:4000].replace("\n", ",").split(",") if k.strip()]
    terms = [t.strip() for t in str(form.get("terms", ""))[:4000].splitlines() if t.strip()]
    data = {
        "entity_types": [str(v) for v in form.getlist("types")][:10],
        "keep_entities": [int(k) if k.isdigit() and len(k) <= 10 else -1 for k in keep],
        "terms": terms,
        "reason": str(form.get("reason", ""))[:2000],
    }
    try:
        body = RedactionRuleBody.model_validate(data)
    except ValidationError as exc:
        return _invalid(request, principal, exc)
    return _do(
        request,
        principal,
        f"/cases/{case_id}#redaction-rule",
        "case_rule_saved",
        lambda: set_rule(_service(request).cases, case_id, body, principal),
    )


@router.post("/cases/{case_id}/redaction-rule/lift")
def case_rule_lift(request: Request, principal: SignedInForm, case_id: int) -> Response:
    return _do(
        request,
        principal,
        f"/cases/{case_id}#redaction-rule",
        "case_rule_lifted",
        lambda: lift_rule(_service(request).cases, case_id, principal),
    )


@router.post("/cases/{case_id}/members")
def case_member_set(
    request: Request,
    principal: SignedInForm,
    case_id: int,
    username: Annotated[str, Form()] = "",
    permission: Annotated[str, Form()] = "read",
) -> Response:
    """Add a member to a case, or change a member's rights (read or edit)."""
    body = {"username": username.strip(), "permission": permission}
    return _do(
        request,
        principal,
        f"/cases/{case_id}#members",
        "case_member_saved",
        lambda: _service(request).cases.set_member(case_id, CaseMemberCreate.model_validate(body), principal),
    )


@router.post("/cases/{case_id}/members/{username}/remove")
def case_member_remove(request: Request, principal: SignedInForm, case_id: int, username: str) -> Response:
    return _do(
        request,
        principal,
        f"/cases/{case_id}#members",
        "case_member_removed",
        lambda: _service(request).cases.remove_member(case_id, username, principal),
    )
