"""Structured metadata per collection (issue 18, part 4), as Uwazi's templates.

A collection's managers (``manage`` right, or admins) define typed fields for it; staff who may
write to the collection (``write`` right, editor or admin role) fill them per document, one
document or many at a time; every reader of a document sees its values. Types:

- ``text``: free text, 1–500 characters (NFC, runs of white space as one space); matched exactly;
- ``date``: an ISO date ``YYYY-MM-DD``; filtered by day, month, year or range (``2022-03``,
  ``2022..2023``); faceted by year;
- ``number``: a finite decimal number, stored without trailing zeros; filtered exactly or by range
  (``10..20``, ``..5``);
- ``select``: one of the field's options (several with ``multiple``);
- ``entity``: a person, place or organisation of the entity catalog (``/entities``), given by id
  or by a name that stands for exactly one entity (several with ``multiple``).

Values are indexed on every passage of their document, on both backends, in one keyword field
(``FIELD_ID=VALUE``, ``index/backend.py``), so the filter ``meta=NAME=VALUE`` (API) or
``meta:"NAME=VALUE"`` (query language) and the facets ``meta.NAME`` run *inside* retrieval with the
access filter, like every other filter and facet: a value is never counted or matched from a
document the caller may not read. A range filter becomes the set of stored values inside it,
looked up in the catalog first. Every change is audited (free-text values as SHA-256 digests, so
the audit log keeps no copy of a text that a purge must remove) and re-indexes the documents it
touches before the call returns.

Why one module: the field definitions, the validation of each type, the index labels and the
range look-ups are one contract (a value is stored, indexed and filtered in the same canonical
form); the API models beside them are this service's inputs and outputs.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from sqlalchemy import delete, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_search.catalog.db import Catalog
from archive_search.catalog.metadata import mark_documents_unindexed
from archive_search.catalog.models import Collection, Document, Entity, EntityMention, Passage
from archive_search.catalog.models_metadata import DocumentMetadata, MetadataField
from archive_search.errors import (
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    QuerySyntaxError,
)
from archive_search.types import MAX_ID, Principal
from index import indexer
from index.backend import SearchBackend
from search_api.access import (
    MAX_BULK,
    passage_id_clause,
    readable_clause,
    readable_documents,
    require_editor,
)
from search_api.audit import AuditLog
from search_api.entities import resolve
from search_api.query import parse_date_range
from search_api.tags import TAG_NAME_PATTERN, clean_tag_name

FIELD_TYPES = ("text", "date", "number", "select", "entity")
FIELD_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
"""A field's machine name: used in ``meta=NAME=VALUE`` filters and ``meta.NAME`` facets."""
MAX_TEXT = 500
MAX_OPTIONS = 200
MAX_VALUES = 50
"""Most values of one field on one document (select and entity fields with ``multiple``)."""
MAX_RANGE_VALUES = 10_000
"""Most distinct stored values one range filter may stand for."""
META_CODE = "invalid_metadata"
"""Error code of a value that does not fit its field (400)."""
FACET_PREFIX = "meta."
_NO_MATCH = "meta:0="
"""A filter value no passage carries (field ids start at 1)."""

FieldName = Annotated[str, Field(pattern=FIELD_NAME_PATTERN, min_length=1, max_length=40)]
Label = Annotated[str, Field(min_length=1, max_length=200, pattern=TAG_NAME_PATTERN)]
Option = Annotated[str, Field(min_length=1, max_length=100, pattern=TAG_NAME_PATTERN)]
Description = Annotated[str, Field(max_length=2000)]
Scalar = Annotated[str, Field(max_length=MAX_TEXT)] | float
InputValue = Scalar | Annotated[list[Scalar], Field(max_length=MAX_VALUES)] | None
ItemId = Annotated[int, Field(ge=1, le=MAX_ID)]


class _FieldBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: FieldName = Field(description="Machine name: meta=NAME=VALUE filters, meta.NAME facets")
    label: Label = Field(description="What people see")
    description: Description | None = None
    required: StrictBool = Field(
        False, description="A document's value may be changed but not cleared once set"
    )


class PlainFieldCreate(_FieldBase):
    """A ``text``, ``date`` or ``number`` field (one value per document)."""

    type: Literal["text", "date", "number"]


class SelectFieldCreate(_FieldBase):
    """A ``select`` field: values come from ``options``."""

    type: Literal["select"]
    options: list[Option] = Field(min_length=1, max_length=MAX_OPTIONS)
    multiple: StrictBool = False


class EntityFieldCreate(_FieldBase):
    """An ``entity`` field: values are entities of ``entity_type`` (``/entities``)."""

    type: Literal["entity"]
    entity_type: Literal["person", "place", "org"]
    multiple: StrictBool = False


FieldCreate = Annotated[PlainFieldCreate | SelectFieldCreate | EntityFieldCreate, Field(discriminator="type")]


class FieldPublic(BaseModel):
    id: int
    collection: str
    name: str
    label: str
    type: str
    options: list[str] | None = None
    entity_type: str | None = None
    multiple: bool
    required: bool = False
    description: str | None = None
    created_by: str
    created_at: datetime


class FieldUpdate(BaseModel):
    """A change to a field's definition; what is not given stays. The machine name and the type
    stay: a field of another type is a new field (a text cannot become a date without guessing)."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    description: Description | None = Field(None, description="An empty text removes it")
    required: StrictBool | None = None
    multiple: StrictBool | None = Field(
        None,
        description="select and entity fields; back to one value is refused (409) "
        "while a document holds several",
    )
    options: list[Option] | None = Field(
        None,
        min_length=1,
        max_length=MAX_OPTIONS,
        description="The select field's whole new list, in display order: options may be added, "
        "reordered, or removed when no document holds them (409 otherwise)",
    )
    type: Literal["text", "date", "number", "select", "entity"] | None = Field(
        None, description="Only the field's own type is accepted: a type change is refused (409)"
    )


class MetadataValue(BaseModel):
    value: str = Field(description="Canonical value (ISO date, number, option, entity id, text)")
    display: str = Field(description="What people see (an entity's name; else the value)")
    entity_id: int | None = None


class FieldValues(BaseModel):
    name: str
    label: str
    type: str
    entity_type: str | None = None
    options: list[str] | None = None
    multiple: bool
    values: list[MetadataValue]


class DocumentMetadataPublic(BaseModel):
    document_id: str
    collection: str
    fields: list[FieldValues] = Field(description="Every field of the collection, filled or not")


class MetadataSet(BaseModel):
    """New values by field name: a value, a list (``multiple`` fields), or null/[] to clear.
    Fields not named keep their values."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, InputValue] = Field(min_length=1, max_length=100)


class MetadataApply(MetadataSet):
    """The same values on many documents (bulk edit of selected results)."""

    document_ids: list[ItemId] = Field(min_length=1, max_length=MAX_BULK)


class NamedEntity(BaseModel):
    """A person, place or organisation a document names (links to ``/entities/{id}``)."""

    id: int
    type: str = Field(description="person, place or org")
    name: str
    mentions: int = Field(description="Mentions in this document")


class MetadataApplyResult(BaseModel):
    documents: int = Field(description="Documents whose values changed")
    reindexed: int = Field(description="Passages re-indexed so that filters and facets follow")


# -- values -------------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", value)).strip()
    if not text or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in text):
        raise InvalidRequestError(
            "a text value needs a visible character and no control characters", code="invalid_metadata"
        )
    if len(text) > MAX_TEXT:
        raise InvalidRequestError(f"a text value has at most {MAX_TEXT} characters", code="invalid_metadata")
    return text


def canonical_number(value: str | float) -> tuple[str, float]:
    """``"1,50"``/``1.50`` → (``"1.5"``, 1.5); refused unless a finite number."""
    if isinstance(value, bool):
        raise InvalidRequestError("a number field takes a number", code="invalid_metadata")
    try:
        d = Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) else Decimal(repr(value))
    except InvalidOperation as exc:
        raise InvalidRequestError(f"not a number: {str(value)[:50]!r}", code="invalid_metadata") from exc
    if not d.is_finite() or abs(d) >= Decimal("1e15"):
        raise InvalidRequestError("a number must be finite and below 10^15", code="invalid_metadata")
    text = format(d.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text, float(d)


def canonical_date(value: str | float) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        raise InvalidRequestError("a date field takes an ISO date YYYY-MM-DD", code="invalid_metadata")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError as exc:
        raise InvalidRequestError(f"not a date: {value[:20]!r}", code="invalid_metadata") from exc


def field_public(f: MetadataField, collection: str) -> FieldPublic:
    return FieldPublic(
        id=f.id,
        collection=collection,
        name=f.name,
        label=f.label,
        type=f.type,
        options=list(f.options) if f.options else None,
        entity_type=f.entity_type,
        multiple=f.multiple,
        required=bool(f.required),
        description=f.description,
        created_by=f.created_by,
        created_at=f.created_at,
    )


def _entity_names(s: Session, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict(s.execute(select(Entity.id, Entity.name).where(Entity.id.in_(wanted))).all())


def _display(f: MetadataField, value: str, names: dict[int, str]) -> MetadataValue:
    if f.type == "entity" and value.isdigit():
        eid = int(value)
        return MetadataValue(value=value, display=names.get(eid, f"#{eid}"), entity_id=eid)
    return MetadataValue(value=value, display=value)


def documents_metadata(s: Session, document_ids: Sequence[int]) -> dict[int, dict[str, list[str]]]:
    """{document id: {field name: [display values]}} of filled fields, for exports and bundles
    (the caller has checked that it may read the documents)."""
    ids = sorted(set(document_ids))
    rows: list[tuple[int, MetadataField, str]] = []
    for i in range(0, len(ids), 1000):
        rows += [
            (d, f, v)
            for d, f, v in s.execute(
                select(DocumentMetadata.document_id, MetadataField, DocumentMetadata.value)
                .join(MetadataField, MetadataField.id == DocumentMetadata.field_id)
                .where(DocumentMetadata.document_id.in_(ids[i : i + 1000]))
                .order_by(MetadataField.id, DocumentMetadata.id)
            ).all()
        ]
    names = _entity_names(s, (int(v) for _, f, v in rows if f.type == "entity" and v.isdigit()))
    out: dict[int, dict[str, list[str]]] = {}
    for d, f, v in rows:
        out.setdefault(d, {}).setdefault(f.name, []).append(_display(f, v, names).display)
    return out


# -- search: filters and facets ---------------------------------------------------------------


def _range_values(s: Session, f: MetadataField, spec: str) -> list[str]:
    """The stored values of ``f`` that the filter value ``spec`` stands for."""
    q = select(DocumentMetadata.value).where(DocumentMetadata.field_id == f.id).distinct()
    if f.type == "date":
        lo, hi = parse_date_range(spec)
        if lo is not None:
            q = q.where(DocumentMetadata.value >= lo.isoformat())
        if hi is not None:
            q = q.where(DocumentMetadata.value <= hi.isoformat())
    else:  # number
        lo_s, sep, hi_s = spec.partition("..")
        try:
            lo_n = canonical_number(lo_s)[1] if lo_s.strip() else None
            hi_n = canonical_number(hi_s)[1] if sep and hi_s.strip() else (None if sep else lo_n)
        except InvalidRequestError as exc:
            raise QuerySyntaxError(f"meta filter on {f.name}: {exc.message}") from exc
        if lo_n is not None:
            q = q.where(DocumentMetadata.number >= lo_n)
        if hi_n is not None:
            q = q.where(DocumentMetadata.number <= hi_n)
    values = list(s.scalars(q.limit(MAX_RANGE_VALUES + 1)))
    if len(values) > MAX_RANGE_VALUES:
        raise QuerySyntaxError(f"meta filter on {f.name}: the range holds too many values; narrow it")
    return values


def filter_groups(s: Session, specs: Sequence[str], principal: Principal) -> tuple[tuple[str, ...], ...]:
    """``meta`` filters (``NAME=VALUE``, ``NAME=FROM..TO``) as groups of index values
    (``meta:FIELD_ID=VALUE``), one group per filter (and-ed). A name is looked up among the fields
    of the collections the caller may read; an unknown name matches nothing."""
    groups: list[tuple[str, ...]] = []
    for spec in dict.fromkeys(specs):
        name, sep, raw = spec.partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not raw or not re.fullmatch(FIELD_NAME_PATTERN, name):
            raise QuerySyntaxError(f"a meta filter is NAME=VALUE (or NAME=FROM..TO): {spec[:80]!r}")
        q = (
            select(MetadataField)
            .join(Collection, Collection.id == MetadataField.collection_id)
            .where(MetadataField.name == name)
        )
        if principal.readable is not None:
            q = q.where(Collection.name.in_(sorted(principal.readable)))
        values: list[str] = []
        for f in s.scalars(q.order_by(MetadataField.id)):
            if f.type in ("date", "number") and (".." in raw or (f.type == "date" and len(raw) < 10)):
                found = _range_values(s, f, raw)
            elif f.type == "date":
                try:
                    found = [canonical_date(raw)]
                except InvalidRequestError as exc:
                    raise QuerySyntaxError(f"meta filter on {name}: {exc.message}") from exc
            elif f.type == "number":
                found = _range_values(s, f, raw)
            elif f.type == "entity":
                found = _entity_filter_ids(s, f, raw)
            else:
                found = [re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw))]
            values += [f"meta:{f.id}={v}" for v in found]
        groups.append(tuple(values) or (_NO_MATCH,))
    return tuple(groups)


def _entity_filter_ids(s: Session, f: MetadataField, raw: str) -> list[str]:
    if raw.isdigit():
        return [raw]
    return [v.partition(":")[2] for v in resolve(s, f.entity_type or "", raw)]


def named_facets(s: Session, counts: dict[str, int]) -> dict[str, dict[str, int]]:
    """The backend's ``meta`` facet (``FIELD_ID=VALUE`` → passages) as ``meta.NAME`` facets:
    dates by year, entities by name, other values as they are; fields of one name in several
    collections are counted together."""
    parsed: list[tuple[int, str, int]] = []
    for key, n in counts.items():
        head, sep, value = key.partition("=")
        if sep and head.isdigit():
            parsed.append((int(head), value, n))
    if not parsed:
        return {}
    fields = {
        f.id: f for f in s.scalars(select(MetadataField).where(MetadataField.id.in_({p[0] for p in parsed})))
    }
    names = _entity_names(
        s, (int(v) for fid, v, _ in parsed if fid in fields and fields[fid].type == "entity" and v.isdigit())
    )
    out: dict[str, dict[str, int]] = {}
    for fid, value, n in parsed:
        f = fields.get(fid)
        if f is None:
            continue
        if f.type == "date":
            shown = value[:4]
        elif f.type == "entity":
            shown = _display(f, value, names).display
        else:
            shown = value
        bucket = out.setdefault(FACET_PREFIX + f.name, {})
        bucket[shown] = bucket.get(shown, 0) + n
    return {k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in sorted(out.items())}


def passage_facets(s: Session, passage_ids: Sequence[int]) -> dict[str, int]:
    """The raw ``meta`` facet over a list of passages (semantic hits, counted in the catalog)."""
    counts: dict[str, int] = {}
    ids = list(passage_ids)
    for i in range(0, len(ids), 1000):
        for fid, value in s.execute(
            select(DocumentMetadata.field_id, DocumentMetadata.value)
            .join(Passage, Passage.document_id == DocumentMetadata.document_id)
            .where(Passage.id.in_(ids[i : i + 1000]))
        ):
            key = f"{fid}={value}"
            counts[key] = counts.get(key, 0) + 1
    return counts


# -- the service ----------------------------------------------------------------------------------


class MetadataService:
    """Field definitions and values over the catalog; value changes re-index their documents."""

    def __init__(self, catalog: Catalog, backend: Callable[[], SearchBackend], audit: AuditLog) -> None:
        self.catalog = catalog
        self._backend = backend
        self.audit = audit

    # -- fields ----------------------------------------------------------------------------

    @staticmethod
    def _collection(s: Session, name: str, principal: Principal) -> Collection:
        col = s.scalar(select(Collection).where(Collection.name == name))
        if col is None or not principal.can_read(name):
            raise NotFoundError(f"collection {name!r} not found")
        return col

    def list_fields(self, collection: str, principal: Principal) -> list[FieldPublic]:
        with self.catalog.session() as s:
            col = self._collection(s, collection, principal)
            rows = s.scalars(
                select(MetadataField).where(MetadataField.collection_id == col.id).order_by(MetadataField.id)
            )
            return [field_public(f, col.name) for f in rows]

    def create_field(
        self,
        collection: str,
        body: PlainFieldCreate | SelectFieldCreate | EntityFieldCreate,
        principal: Principal,
    ) -> FieldPublic:
        if principal.role != "admin" and not principal.can_manage(collection):
            self._forbid_or_hide(collection, principal, "defining metadata fields needs the manage right")
        try:
            with self.catalog.session() as s:
                col = self._collection(s, collection, principal)
                options: list[str] | None = None
                if isinstance(body, SelectFieldCreate):
                    try:
                        options = list(dict.fromkeys(clean_tag_name(o) for o in body.options))
                    except InvalidRequestError as exc:
                        raise InvalidRequestError(f"option: {exc.message}", code="invalid_metadata") from exc
                if s.scalar(
                    select(MetadataField.id).where(
                        MetadataField.collection_id == col.id, MetadataField.name == body.name
                    )
                ):
                    raise ConflictError(f"collection {collection!r} has a field {body.name!r}")
                f = MetadataField(
                    collection_id=col.id,
                    name=body.name,
                    label=re.sub(r"\s+", " ", unicodedata.normalize("NFC", body.label)).strip()[:200]
                    or body.name,
                    type=body.type,
                    options=options,
                    entity_type=body.entity_type if isinstance(body, EntityFieldCreate) else None,
                    multiple=bool(getattr(body, "multiple", False)),
                    required=body.required,
                    description=body.description,
                    created_by=principal.name,
                )
                s.add(f)
                s.flush()
                self.audit.record(
                    principal.name,
                    "metadata_field",
                    "collection",
                    col.id,
                    {"op": "create", "field": f.name, "type": f.type, "options": options},
                    session=s,
                )
                return field_public(f, col.name)
        except IntegrityError as exc:
            raise ConflictError(f"collection {collection!r} has a field {body.name!r}") from exc

    def update_field(
        self, collection: str, name: str, body: FieldUpdate, principal: Principal
    ) -> FieldPublic:
        """Change a field's label, description, required-ness, options (select) or ``multiple``
        (select, entity), audited with the old and new definition. Values are stored and indexed
        by the field's id and canonical value, none of which changes here, so nothing is
        re-indexed; a change that would orphan stored values is refused (409)."""
        if principal.role != "admin" and not principal.can_manage(collection):
            self._forbid_or_hide(collection, principal, "editing metadata fields needs the manage right")
        with self.catalog.session() as s:
            col = self._collection(s, collection, principal)
            f = _field_of(s, col.id, name, collection)
            if body.type is not None and body.type != f.type:
                raise ConflictError(
                    f"field {name!r} is a {f.type} field; its type cannot change "
                    "(define a new field, fill it, then delete this one)"
                )
            before = field_public(f, col.name).model_dump(
                include={"label", "description", "required", "multiple", "options"}
            )
            if body.label is not None:
                f.label = (
                    re.sub(r"\s+", " ", unicodedata.normalize("NFC", body.label)).strip()[:200] or f.name
                )
            if body.description is not None:
                f.description = body.description.strip() or None
            if body.required is not None:
                f.required = body.required
            if body.multiple is not None and body.multiple != f.multiple:
                if f.type not in ("select", "entity"):
                    raise ConflictError(
                        f"only select and entity fields hold several values ({name!r} is {f.type})"
                    )
                if not body.multiple:
                    crowded = s.scalar(
                        select(func.count()).select_from(
                            select(DocumentMetadata.document_id)
                            .where(DocumentMetadata.field_id == f.id)
                            .group_by(DocumentMetadata.document_id)
                            .having(func.count() > 1)
                            .subquery()
                        )
                    )
                    if crowded:
                        raise ConflictError(
                            f"{crowded} documents hold several values of {name!r}: "
                            "leave one on each before making it single"
                        )
                f.multiple = body.multiple
            if body.options is not None:
                if f.type != "select":
                    raise ConflictError(f"only select fields have options ({name!r} is {f.type})")
                try:
                    options = list(dict.fromkeys(clean_tag_name(o) for o in body.options))
                except InvalidRequestError as exc:
                    raise InvalidRequestError(f"option: {exc.message}", code="invalid_metadata") from exc
                dropped = [o for o in (f.options or []) if o not in options]
                if dropped:
                    used = sorted(
                        set(
                            s.scalars(
                                select(DocumentMetadata.value).where(
                                    DocumentMetadata.field_id == f.id, DocumentMetadata.value.in_(dropped)
                                )
                            )
                        )
                    )
                    if used:
                        raise ConflictError(
                            f"documents hold the options {', '.join(repr(u) for u in used[:10])}: "
                            "change their values before removing them"
                        )
                f.options = options
            s.flush()
            after = field_public(f, col.name).model_dump(
                include={"label", "description", "required", "multiple", "options"}
            )
            changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
            if changes:
                self.audit.record(
                    principal.name,
                    "metadata_field",
                    "collection",
                    col.id,
                    {"op": "edit", "field": f.name, "changes": changes},
                    session=s,
                )
            return field_public(f, col.name)

    @staticmethod
    def _forbid_or_hide(collection: str, principal: Principal, message: str) -> None:
        if not principal.can_read(collection):
            raise NotFoundError(f"collection {collection!r} not found")
        raise ForbiddenError(message)

    def delete_field(self, collection: str, name: str, principal: Principal) -> int:
        """Delete a field and every value of it; returns the passages re-indexed."""
        if principal.role != "admin" and not principal.can_manage(collection):
            self._forbid_or_hide(collection, principal, "deleting metadata fields needs the manage right")
        with self.catalog.session() as s:
            col = self._collection(s, collection, principal)
            f = _field_of(s, col.id, name, collection)
            docs = sorted(
                set(s.scalars(select(DocumentMetadata.document_id).where(DocumentMetadata.field_id == f.id)))
            )
            s.execute(delete(DocumentMetadata).where(DocumentMetadata.field_id == f.id))
            s.delete(f)
            n = mark_documents_unindexed(s, docs)
            self.audit.record(
                principal.name,
                "metadata_field",
                "collection",
                col.id,
                {"op": "delete", "field": name, "documents": len(docs)},
                session=s,
            )
        indexer.index_pending(self.catalog, self._backend())
        return n

    # -- values ----------------------------------------------------------------------------

    def get(self, document_id: int, principal: Principal) -> DocumentMetadataPublic:
        with self.catalog.session() as s:
            found = readable_documents(s, [document_id], principal)
            collection = found[document_id]
            return self._public(s, document_id, collection)

    def _public(self, s: Session, document_id: int, collection: str) -> DocumentMetadataPublic:
        fields = list(
            s.scalars(
                select(MetadataField)
                .join(Collection, Collection.id == MetadataField.collection_id)
                .where(Collection.name == collection)
                .order_by(MetadataField.id)
            )
        )
        values = s.execute(
            select(DocumentMetadata.field_id, DocumentMetadata.value)
            .where(DocumentMetadata.document_id == document_id)
            .order_by(DocumentMetadata.id)
        ).all()
        by_field: dict[int, list[str]] = {}
        for fid, v in values:
            by_field.setdefault(fid, []).append(v)
        names = _entity_names(
            s, (int(v) for f in fields if f.type == "entity" for v in by_field.get(f.id, []) if v.isdigit())
        )
        return DocumentMetadataPublic(
            document_id=str(document_id),
            collection=collection,
            fields=[
                FieldValues(
                    name=f.name,
                    label=f.label,
                    type=f.type,
                    entity_type=f.entity_type,
                    options=list(f.options) if f.options else None,
                    multiple=f.multiple,
                    values=[_display(f, v, names) for v in by_field.get(f.id, [])],
                )
                for f in fields
            ],
        )

    def document_entities(self, document_id: int, principal: Principal) -> list[NamedEntity]:
        """The people, places and organisations a readable document names, most mentioned first
        (then by name); 404 for a document the caller may not read."""
        with self.catalog.session() as s:
            readable_documents(s, [document_id], principal)
            rows = s.execute(
                select(Entity.id, Entity.type, Entity.name, func.count(EntityMention.id))
                .join(EntityMention, EntityMention.entity_id == Entity.id)
                .where(
                    EntityMention.document_id == document_id,
                    Entity.type.in_(list(ENTITY_COLUMNS)),
                    passage_id_clause(principal, EntityMention.passage_id),
                )
                .group_by(Entity.id, Entity.type, Entity.name)
            ).all()
        found = [NamedEntity(id=i, type=t, name=n, mentions=int(c)) for i, t, n, c in rows]
        return sorted(found, key=lambda e: (-e.mentions, e.name.casefold(), e.id))

    def set_values(self, document_id: int, body: MetadataSet, principal: Principal) -> DocumentMetadataPublic:
        self.apply(MetadataApply(values=body.values, document_ids=[document_id]), principal)
        return self.get(document_id, principal)

    def apply(self, body: MetadataApply, principal: Principal) -> MetadataApplyResult:
        """Set the values on every document (all or nothing): each document must be readable, its
        collection writable and hold every named field; every value must fit its field."""
        require_editor(principal, "editing metadata")
        changed: set[int] = set()
        with self.catalog.session() as s:
            docs = readable_documents(s, body.document_ids, principal)
            for col in sorted(set(docs.values())):
                if not principal.can_write(col):
                    raise ForbiddenError(f"editing metadata needs the write right on collection {col!r}")
            col_ids = dict(
                s.execute(
                    select(Collection.name, Collection.id).where(Collection.name.in_(set(docs.values())))
                ).all()
            )
            fields: dict[tuple[int, str], MetadataField] = {
                (f.collection_id, f.name): f
                for f in s.scalars(
                    select(MetadataField).where(
                        MetadataField.collection_id.in_(col_ids.values()),
                        MetadataField.name.in_(list(body.values)),
                    )
                )
            }
            # validate everything first: one bad value changes nothing
            plan: list[tuple[int, MetadataField, list[tuple[str, float | None]]]] = []
            cache: dict[tuple[int, str], list[tuple[str, float | None]]] = {}
            for doc_id, col in sorted(docs.items()):
                for name, raw in body.values.items():
                    f = fields.get((col_ids[col], name))
                    if f is None:
                        raise NotFoundError(f"collection {col!r} has no metadata field {name!r}")
                    if (f.id, name) not in cache:
                        cache[(f.id, name)] = self._validate(s, f, raw, principal)
                    if (
                        f.required
                        and not cache[(f.id, name)]
                        and s.scalar(
                            select(DocumentMetadata.id)
                            .where(DocumentMetadata.document_id == doc_id, DocumentMetadata.field_id == f.id)
                            .limit(1)
                        )
                    ):  # a document never filled stays empty (the viewer's form sends every field)
                        raise InvalidRequestError(
                            f"field {name!r} is required: its value can be changed, not cleared",
                            code="invalid_metadata",
                        )
                    plan.append((doc_id, f, cache[(f.id, name)]))
            for doc_id, f, new in plan:
                old = list(
                    s.scalars(
                        select(DocumentMetadata.value)
                        .where(DocumentMetadata.document_id == doc_id, DocumentMetadata.field_id == f.id)
                        .order_by(DocumentMetadata.id)
                    )
                )
                if old == [v for v, _ in new]:
                    continue
                s.execute(
                    delete(DocumentMetadata).where(
                        DocumentMetadata.document_id == doc_id, DocumentMetadata.field_id == f.id
                    )
                )
                s.add_all(
                    DocumentMetadata(
                        document_id=doc_id, field_id=f.id, value=v, number=num, set_by=principal.name
                    )
                    for v, num in new
                )
                changed.add(doc_id)
                self.audit.record(
                    principal.name,
                    "metadata",
                    "document",
                    doc_id,
                    {
                        "op": "set",
                        "field": f.name,
                        "field_id": f.id,
                        "old": _audited(f, old),
                        "new": _audited(f, [v for v, _ in new]),
                    },
                    session=s,
                )
            s.flush()
            reindexed = mark_documents_unindexed(s, sorted(changed))
        if changed:
            indexer.index_pending(self.catalog, self._backend())
        return MetadataApplyResult(documents=len(changed), reindexed=reindexed)

    def _validate(
        self, s: Session, f: MetadataField, raw: Any, principal: Principal
    ) -> list[tuple[str, float | None]]:
        """The canonical (value, number) pairs of an input value for ``f``; 400 when it does not fit."""
        items: list[Any] = [] if raw is None else (list(raw) if isinstance(raw, list) else [raw])
        if len(items) > 1 and not f.multiple:
            raise InvalidRequestError(f"field {f.name!r} holds one value", code="invalid_metadata")
        if len(items) > MAX_VALUES:
            raise InvalidRequestError(f"at most {MAX_VALUES} values per field", code="invalid_metadata")
        out: list[tuple[str, float | None]] = []
        for item in items:
            if isinstance(item, float) and not math.isfinite(item):
                raise InvalidRequestError("a number must be finite", code="invalid_metadata")
            if f.type == "number":
                text, num = canonical_number(item)
                out.append((text, num))
                continue
            if not isinstance(item, str):
                if f.type == "entity" and isinstance(item, float) and item.is_integer():
                    item = str(int(item))
                else:
                    raise InvalidRequestError(f"field {f.name!r} takes text values", code="invalid_metadata")
            if f.type == "text":
                out.append((clean_text(item), None))
            elif f.type == "date":
                out.append((canonical_date(item), None))
            elif f.type == "select":
                value = re.sub(r"\s+", " ", unicodedata.normalize("NFC", item)).strip()
                if value not in (f.options or []):
                    raise InvalidRequestError(
                        f"{item[:80]!r} is not an option of {f.name!r} ({', '.join((f.options or [])[:10])})",
                        code="invalid_metadata",
                    )
                out.append((value, None))
            else:
                out.append((str(self._entity_value(s, f, item, principal)), None))
        return list(dict.fromkeys(out))

    @staticmethod
    def _entity_value(s: Session, f: MetadataField, raw: str, principal: Principal) -> int:
        """An entity of the field's type that the caller can see (mentioned in a document it may
        read), by id or by a name standing for exactly one such entity."""
        etype = f.entity_type or ""
        if raw.strip().isdigit():
            candidates = [int(raw.strip())]
        else:
            candidates = [int(v.partition(":")[2]) for v in resolve(s, etype, raw)]
        visible = sorted(
            set(
                s.scalars(
                    select(EntityMention.entity_id)
                    .join(Document, Document.id == EntityMention.document_id)
                    .join(Collection, Collection.id == Document.collection_id)
                    .join(Entity, Entity.id == EntityMention.entity_id)
                    .where(
                        EntityMention.entity_id.in_([c for c in candidates if 0 < c <= MAX_ID]),
                        Entity.type == etype,
                        Document.withdrawn_at.is_(None),
                        readable_clause(principal),
                        passage_id_clause(principal, EntityMention.passage_id),
                    )
                )
            )
        )
        if not visible:
            raise InvalidRequestError(
                f"no {etype} entity {raw[:80]!r} that you may see", code="invalid_metadata"
            )
        if len(visible) > 1:
            raise InvalidRequestError(
                f"{raw[:80]!r} stands for {len(visible)} entities "
                f"({', '.join(map(str, visible[:10]))}): give an id",
                code="invalid_metadata",
            )
        return visible[0]


def _audited(f: MetadataField, values: list[str]) -> list[str]:
    """Values as the audit log keeps them: free text as a SHA-256 digest (a purge must be able to
    remove the text; the log is append-only)."""
    if f.type != "text":
        return values
    return ["sha256:" + hashlib.sha256(v.encode("utf-8")).hexdigest() for v in values]


# -- exports and bundles ---------------------------------------------------------------------------

ENTITY_COLUMNS: dict[str, str] = {"person": "persons", "place": "places", "org": "organisations"}
"""Entity type → export column / bundle key: the people, places and organisations named."""


def named_entities(
    s: Session,
    *,
    passage_ids: Sequence[int] = (),
    document_ids: Sequence[int] = (),
    hidden_passages: frozenset[int] = frozenset(),
) -> dict[int, dict[str, list[str]]]:
    """{passage id (or document id): {"persons"|"places"|"organisations": [names]}}: the entities
    mentioned in each passage (with ``passage_ids``) or document (with ``document_ids``), by
    their names, most mentioned first, leaving out the mentions in ``hidden_passages`` (restricted
    passages the reader may not read). The caller has checked that it may read them."""
    by_passage = bool(passage_ids)
    ids = sorted(set(passage_ids if by_passage else document_ids))
    col = EntityMention.passage_id if by_passage else EntityMention.document_id
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for i in range(0, len(ids), 1000):
        for owner, etype, name in s.execute(
            select(col, Entity.type, Entity.name)
            .join(Entity, Entity.id == EntityMention.entity_id)
            .where(
                col.in_(ids[i : i + 1000]),
                Entity.type.in_(list(ENTITY_COLUMNS)),
                EntityMention.passage_id.not_in(sorted(hidden_passages)) if hidden_passages else true(),
            )
        ):
            bucket = counts.setdefault(owner, {}).setdefault(ENTITY_COLUMNS[etype], {})
            bucket[name] = bucket.get(name, 0) + 1
    return {
        owner: {
            k: [n for n, _ in sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))] for k, v in kinds.items()
        }
        for owner, kinds in counts.items()
    }


def export_annotations(s: Session, hits: Sequence[tuple[int, int]]) -> dict[int, dict[str, Any]]:
    """{passage id: columns} for export rows of ``(passage id, document id)`` hits: the entities
    the passage names and its document's metadata (``{field name: [values]}``)."""
    ents = named_entities(s, passage_ids=[p for p, _ in hits])
    meta = documents_metadata(s, [d for _, d in hits])
    out: dict[int, dict[str, Any]] = {}
    for pid, did in hits:
        named = ents.get(pid, {})
        out[pid] = {**{c: named.get(c, []) for c in ENTITY_COLUMNS.values()}, "metadata": meta.get(did, {})}
    return out


def _field_of(s: Session, collection_id: int, name: str, collection: str) -> MetadataField:
    """The field ``name`` of a collection; 404 when it has none of that name."""
    f = s.scalar(
        select(MetadataField).where(MetadataField.collection_id == collection_id, MetadataField.name == name)
    )
    if f is None:
        raise NotFoundError(f"field {name!r} not found in collection {collection!r}")
    return f
