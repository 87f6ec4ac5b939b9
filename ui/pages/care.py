"""Duty of care for staff (``search_api/care.py``, ``search_api/redaction.py``): ``/care`` lists
the withdrawn documents, the documents due for review and the redactions of the collections the
user manages (all for administrators); ``/care/documents/{id}`` is one document's care page —
withdraw, restore, purge, legal hold, restriction (of the document or of one passage), redaction
(with the masked text, which only its managers see) and lifting a redaction. Every change goes
through the same services as the API and the command line, so the same rights and audit entries
apply."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from archive_search.errors import ArchiveError, InvalidRequestError, NotFoundError
from archive_search.types import Principal
from ui.common import (
    SignedIn,
    SignedInForm,
    _do,
    _failed,
    _forbidden,
    _int_param,
    _not_found,
    _service,
    _work_context,
    render,
)

router = APIRouter(include_in_schema=False)


def _is_staff(principal: Principal) -> bool:
    return principal.is_admin or bool(principal.manageable)


def _refuse(request: Request, principal: Principal) -> Response:
    return _forbidden(request, principal, "care_staff_only")


@router.get("/care", response_class=HTMLResponse)
def care_overview(request: Request, principal: SignedIn) -> Response:
    if not _is_staff(principal):
        return _refuse(request, principal)
    svc = _service(request)
    return render(
        request,
        "care.html",
        principal=principal,
        withdrawn=svc.care.withdrawn(principal),
        due=svc.care.due_for_review(principal),
        redactions=svc.redactions.listing(principal),
        collections=[c["name"] for c in svc.collections(principal)],
        **_work_context(request, principal),
    )


@router.get("/care/documents/{document_id}", response_class=HTMLResponse)
def care_document(request: Request, principal: SignedIn, document_id: int) -> Response:
    svc = _service(request)
    try:
        state = svc.care.state(document_id, principal)
    except NotFoundError:
        return _not_found(request, principal)
    except ArchiveError as exc:
        return _failed(request, principal, exc)
    meta: dict[str, Any] | None = None
    parts: list[dict[str, Any]] = []
    redactions: list[dict[str, Any]] = []
    passages: list[dict[str, Any]] = []
    restricted: list[dict[str, Any]] = []
    if not state["withdrawn"] and not state["purged"]:
        meta = svc.document(document_id, principal)
        parts = svc.document_text(document_id, principal)
        redactions = svc.redactions.of_document(document_id, principal)
        passages = svc.redactions.passages(document_id, principal)
        restricted = svc.care.restricted_passages(document_id, principal)
    svc.cases.audit.record(principal.name, "view", "document", document_id, {"part": "ui-care"})
    return render(
        request,
        "care_document.html",
        principal=principal,
        state=state,
        doc=meta,
        parts=parts,
        redactions=redactions,
        passages=passages,
        restricted_passages=restricted,
        **_work_context(request, principal),
    )


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v)[:4000] for k, v in form.items() if isinstance(v, str)}


def _names(value: str) -> list[str]:
    return [n.strip() for n in value.replace("\n", ",").split(",") if n.strip()]


@router.post("/care/documents/{document_id}/{action}")
async def care_document_action(
    request: Request, principal: SignedInForm, document_id: int, action: str
) -> Response:
    svc = _service(request)
    form = await _form(request)
    here = f"/care/documents/{document_id}"
    reason = form.get("reason", "")[:2000]
    actions: dict[str, Callable[[], Any]] = {
        "withdraw": lambda: svc.care.withdraw(document_id, reason, principal),
        "restore": lambda: svc.care.restore(document_id, principal),
        "purge": lambda: svc.care.purge(document_id, principal),
        "hold": lambda: svc.care.set_hold(principal, on=form.get("on") == "1", document_id=document_id),
        "restrict": lambda: svc.care.restrict(
            document_id, principal, users=_names(form.get("users", "")), groups=_names(form.get("groups", ""))
        ),
        "unrestrict": lambda: svc.care.unrestrict(document_id, principal),
        "restrict-passage": lambda: svc.care.restrict_passage(
            _passage_of(svc, document_id, form, principal),
            principal,
            users=_names(form.get("users", "")),
            groups=_names(form.get("groups", "")),
        ),
        "unrestrict-passage": lambda: svc.care.unrestrict_passage(
            _passage_of(svc, document_id, form, principal), principal
        ),
        "redact": lambda: svc.redactions.redact_document(
            document_id,
            principal,
            reason=reason,
            phrase=form.get("text") or None,
            passage_id=_int_param(form.get("passage")) if not form.get("text") else None,
        ),
        "redact-region": lambda: svc.redactions.redact_region(
            document_id, principal, reason=reason, **_region(form)
        ),
    }
    fn = actions.get(action)
    if fn is None:
        return _not_found(request, principal)
    target = "/care" if action == "purge" else here
    return _do(request, principal, target, f"care_{action.replace('-', '_')}", fn)


def _region(form: dict[str, str]) -> dict[str, Any]:
    """The region form's page and rectangle (fractions of the page); bad numbers: 400."""
    try:
        page = int(form.get("page", ""))
        x, y, w, h = (float(form.get(k, "")) for k in ("x", "y", "w", "h"))
    except ValueError:
        raise InvalidRequestError("the page and the region's x, y, w and h must be numbers") from None
    if not all(math.isfinite(v) for v in (x, y, w, h)) or not 1 <= page <= 100_000:
        raise InvalidRequestError("the page and the region's x, y, w and h must be numbers")
    return {"page": page, "x": x, "y": y, "w": w, "h": h}


def _passage_of(svc: Any, document_id: int, form: dict[str, str], principal: Principal) -> int:
    """The form's passage, which must be one of this document's (else: not found)."""
    pid = _int_param(form.get("passage"))
    if pid is None or str(svc.care.passage_state(pid, principal)["document_id"]) != str(document_id):
        raise NotFoundError(f"passage {form.get('passage', '')[:20]} not found in document {document_id}")
    return pid


@router.post("/care/redactions/{redaction_id}/lift")
async def care_lift(request: Request, principal: SignedInForm, redaction_id: int) -> Response:
    svc = _service(request)
    form = await _form(request)
    back = form.get("back", "")
    target = back if back.startswith("/care") and "//" not in back else "/care"
    return _do(
        request, principal, target, "care_lifted", lambda: svc.redactions.lift(redaction_id, principal)
    )


@router.post("/care/retention")
async def care_retention(request: Request, principal: SignedInForm) -> Response:
    svc = _service(request)
    form = await _form(request)
    days = _int_param(form.get("days"))
    return _do(
        request,
        principal,
        "/care",
        "care_retention",
        lambda: svc.care.set_retention(form.get("collection", ""), days, principal),
    )
