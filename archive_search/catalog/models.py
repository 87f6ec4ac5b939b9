"""SQLAlchemy models of the catalog. Schema changes go through Alembic migrations.

Why one module: the declarative models of one ``Base`` with their relationships; the later tables
are already in ``models_search.py`` and ``entities.py``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database: SQLite keeps no offset, so values read
    back are marked UTC (they were written as UTC); naive values are refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    """A legal hold on the collection: no document of it may be purged (migration 0020)."""
    retention_days: Mapped[int | None] = mapped_column(Integer)
    """Documents older than this many days are listed as due for review (never deleted by it)."""


class StoredFile(Base):
    """One original, stored once by content (SHA-256), whatever its names and collections."""

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Document(Base):
    """A file as a document of one collection; the same bytes in one collection are one document."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "file_id", name="uq_documents_collection_file"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="RESTRICT"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="RESTRICT"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str | None] = mapped_column(Text)
    doc_type: Mapped[str] = mapped_column(String(50))
    mime: Mapped[str] = mapped_column(String(200))
    lang: Mapped[str] = mapped_column(String(10), default="other")
    page_count: Mapped[int | None] = mapped_column(Integer)
    doc_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    extractor: Mapped[str | None] = mapped_column(String(50))
    """The extractor that made the text (``pdf``, ``tika``, …; ``archive`` for an archive)."""
    extractor_version: Mapped[str | None] = mapped_column(String(200))
    """Its version and the library's it drives, e.g. ``1; pypdfium2 4.30.0``."""
    # duty of care (migration 0020, ``search_api/care.py``)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    """Set when consent was withdrawn: the document is out of the search index and unreadable."""
    withdrawn_by: Mapped[str | None] = mapped_column(String(150))
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """Set when the content was purged: the row is a tombstone (no text, no original)."""
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    restricted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0", index=True)
    """Readable only by the users and groups of ``document_access`` (and admins, collection managers)."""

    collection: Mapped[Collection] = relationship()
    file: Mapped[StoredFile] = relationship()


class DocumentAccess(Base):
    """Who may read a restricted document, besides admins and the managers of its collection: a
    user or a group (exactly one), who must also be able to read the collection."""

    __tablename__ = "document_access"
    __table_args__ = (
        UniqueConstraint("document_id", "user_id", "group_id", name="uq_document_access_target"),
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_document_access_one_grantee"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PassageRestriction(Base):
    """A passage readable only by the users and groups of its ``passage_access`` rows, besides
    admins and the managers of its collection (migration 0026; passage-level confidentiality)."""

    __tablename__ = "passage_restrictions"

    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PassageAccess(Base):
    """Who may read a restricted passage: a user or a group (exactly one), who must also be able
    to read the document."""

    __tablename__ = "passage_access"
    __table_args__ = (
        UniqueConstraint("passage_id", "user_id", "group_id", name="uq_passage_access_target"),
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_passage_access_one_grantee"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    passage_id: Mapped[int] = mapped_column(
        ForeignKey("passage_restrictions.passage_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseRedactionRule(Base):
    """A case's redaction rule for its bundles (migration 0026): every mention of the entity types
    (but the kept entities) and every listed term is masked in each bundle, evaluated when the
    bundle is built — so it reaches documents ingested and added after the rule was made."""

    __tablename__ = "case_redaction_rules"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    entity_types: Mapped[str] = mapped_column(Text, default="[]")
    """JSON list of entity types (``person``, ``place``, ``org``, ``phone``, ``email``, ``docnum``)."""
    keep_entities: Mapped[str] = mapped_column(Text, default="[]")
    """JSON list of entity ids left unmasked (the accused, say)."""
    terms: Mapped[str] = mapped_column(Text, default="[]")
    """JSON list of words or phrases masked wherever they occur (whole words, any case)."""
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Redaction(Base):
    """A redaction (migration 0021): staff masked a string, a passage or an entity's mentions.
    Who, when and why are here and in the audit log; what was masked is in its spans."""

    __tablename__ = "redactions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    document_id: Mapped[int | None] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), index=True
    )
    entity_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RedactionSpan(Base):
    """One masked range of one stored text (``target``: passage, page, title, filename, e-mail
    sender/recipients/subject; ``target_id``: the passage, page or document). ``original`` is the
    text as it was, for the collection's managers and for lifting the redaction; a purge deletes it."""

    __tablename__ = "redaction_spans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    redaction_id: Mapped[int] = mapped_column(ForeignKey("redactions.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    target: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[int] = mapped_column(Integer)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    original: Mapped[str] = mapped_column(Text)


class RedactionRegion(Base):
    """A rectangle of a page (fractions of the page, 0..1) blacked out in its images (migration
    0028): a region redaction of a scan; the words inside it are masked as its spans."""

    __tablename__ = "redaction_regions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    redaction_id: Mapped[int] = mapped_column(ForeignKey("redactions.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    page: Mapped[int] = mapped_column(Integer)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)


class Page(Base):
    """Extracted text of one page (or of the whole text when a format has no pages)."""

    __tablename__ = "pages"
    __table_args__ = (UniqueConstraint("document_id", "number", name="uq_pages_document_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(30))
    confidence: Mapped[float | None] = mapped_column(Float)
    word_boxes: Mapped[str | None] = mapped_column(Text, default=None)
    """An OCR'd page's word positions (``ingest/wordboxes.py``: offsets in ``text`` and pixel
    boxes, no words; migration 0028); ``None`` for other pages and pages OCR'd before."""


class Passage(Base):
    """A searchable passage with provenance. ``indexed_at``/``embedded_at`` drive the derived indexes."""

    __tablename__ = "passages"
    __table_args__ = (
        UniqueConstraint("document_id", "seq", name="uq_passages_document_seq"),
        Index("ix_passages_pending_index", "indexed_at"),
        Index("ix_passages_pending_embedding", "embedded_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(10))
    page: Mapped[int | None] = mapped_column(Integer)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    time_start: Mapped[float | None] = mapped_column(Float)
    time_end: Mapped[float | None] = mapped_column(Float)
    speaker: Mapped[str | None] = mapped_column(String(200))
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    embedded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    """float32 vector of the embedder recorded in ``index_meta`` (the HNSW index is derived)."""
    index_error: Mapped[str | None] = mapped_column(String(100))
    """Why the last write to the search backend failed (``IndexWriteError`` codes such as
    ``index_unavailable``); ``indexed_at`` stays empty, the next indexing run tries again and clears it."""

    document: Mapped[Document] = relationship()


class IngestJob(Base):
    __tablename__ = "ingest_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20), default="running")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IngestItem(Base):
    """One file of a job and its single recorded outcome: ``ok``, ``failed`` or ``skipped``
    (``queued`` and ``running`` before it has one)."""

    __tablename__ = "ingest_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    code: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str | None] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="SET NULL"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the ingest queue (migration 0005, ``ingest/queue.py``): a queued item's original is already
    # in the store under ``sha256``; a worker holds a ``running`` item while its lease lasts
    sha256: Mapped[str | None] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IndexMeta(Base):
    """Key/value facts about the derived indexes (for example which embedder built the vectors)."""

    __tablename__ = "index_meta"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class User(Base):
    """A person or script account. Passwords are argon2id hashes; there are no default passwords."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    """``admin`` (everything), ``editor`` (may tag and edit cases) or ``viewer``."""
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(150), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GroupMember(Base):
    __tablename__ = "group_members"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Grant(Base):
    """A permission on one collection, to a user or to a group (exactly one of the two)."""

    __tablename__ = "grants"
    __table_args__ = (
        UniqueConstraint("collection_id", "user_id", "group_id", name="uq_grants_target"),
        CheckConstraint("(user_id IS NULL) <> (group_id IS NULL)", name="ck_grants_one_grantee"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(10))
    """``read``, ``write`` (implies read) or ``manage`` (implies write)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Tag(Base):
    """A tag name, global to the archive; who may see its uses depends on the tagged documents."""

    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DocumentTag(Base):
    """A tag on a whole document (every passage of it carries the tag in the index)."""

    __tablename__ = "document_tags"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PassageTag(Base):
    """A tag on one passage."""

    __tablename__ = "passage_tags"

    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Case(Base):
    """A case file: documents and passages gathered, with notes, for one matter."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed', 'archived')", name="ck_cases_status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="open")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    owner_name: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseMember(Base):
    """A user given ``read`` or ``edit`` rights on one case (besides its owner and the admins)."""

    __tablename__ = "case_members"
    __table_args__ = (CheckConstraint("permission IN ('read', 'edit')", name="ck_case_members_permission"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(10))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseItem(Base):
    """A document, or one passage of it, in a case, with the query that found it and a note."""

    __tablename__ = "case_items"
    __table_args__ = (Index("ix_case_items_case_position", "case_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    passage_id: Mapped[int | None] = mapped_column(ForeignKey("passages.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    query: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(150))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseNote(Base):
    """A note on the case as a whole."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(150))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log.

    ``hash = sha256(prev_hash + canonical JSON of (id, at, actor, action, object_type, object_id,
    details))``; ``id`` is a gap-free sequence assigned under the ``audit_head`` row lock.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(50), index=True)
    object_type: Mapped[str | None] = mapped_column(String(50))
    object_id: Mapped[str | None] = mapped_column(String(100))
    details: Mapped[str] = mapped_column(Text)
    """Canonical JSON (sorted keys, no spaces, UTF-8)."""
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row (id 1) that serialises appends and remembers the end of the chain, so that
    removing the newest entries is detected too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class EmailHeader(Base):
    """The addressing of an e-mail document (migration 0016): ``from:`` and ``to:`` filters match
    ``sender`` and ``recipients`` (lower-cased, decoded ``Name <address>`` lists)."""

    __tablename__ = "email_headers"

    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    sender: Mapped[str] = mapped_column(Text)
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)


class Entity(Base):
    """A person, place, organisation, phone number, e-mail address or document number, across
    its spellings (issue 18). ``name`` is what is shown; staff may rename, merge and split."""

    __tablename__ = "entities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(300))
    renamed: Mapped[bool] = mapped_column(Boolean, default=False)
    """Named by staff: the automatic choice of the most frequent spelling no longer applies."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EntityKey(Base):
    """A match key (``ingest/entities.py``: type + transliteration keys of the lemmas) and the one
    entity that new mentions with this key join."""

    __tablename__ = "entity_keys"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)


class EntityMention(Base):
    """One mention: an entity in a passage, with its character span in the passage text and the
    spelling found there (``surface``) in its display form (``alias``)."""

    __tablename__ = "entity_mentions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entity_id: Mapped[int] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    passage_id: Mapped[int] = mapped_column(ForeignKey("passages.id", ondelete="CASCADE"), index=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    surface: Mapped[str] = mapped_column(String(300))
    alias: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(400))


class DocumentFingerprint(Base):
    """What the family builder (``ingest/families.py``) keeps of a document to find its copies,
    re-scans and translations without reading its text again (migration 0019)."""

    __tablename__ = "document_fingerprints"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    minhash: Mapped[bytes | None] = mapped_column(LargeBinary)
    """uint32 MinHash signature of the normalised text's character shingles (``None``: too little text)."""
    text_chars: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    numbers: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Space-separated numbers of the text (dates, counts, article numbers), for translation agreement."""
    names: Mapped[str] = mapped_column(Text, default="", server_default="")
    """Space-separated Latin keys of capitalised words (transliterated), for translation agreement."""
    first_date: Mapped[date | None] = mapped_column(Date)
    """The earliest full date written in the text (for the family's provenance chain)."""
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    """float32 mean of the passages' embeddings, unit length (``None`` until they are embedded)."""
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    vector_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FamilyLsh(Base):
    """One LSH band bucket of a document's MinHash: documents sharing a bucket are candidates."""

    __tablename__ = "family_lsh"

    band: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    document_id: Mapped[int] = mapped_column(
        ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class PageHash(Base):
    """Perceptual hash of one page image (scans: images and OCR'd PDF pages)."""

    __tablename__ = "page_hashes"

    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True)
    page: Mapped[int] = mapped_column(Integer, primary_key=True)
    phash: Mapped[bytes] = mapped_column(LargeBinary)


class FamilyLink(Base):
    """Two documents of the same source, with how they were found to be (``kind``) and how sure.

    ``doc_a < doc_b``. ``status``: ``auto`` (found by the builder), ``confirmed`` or ``broken`` by
    a person (audited); a rebuild keeps people's decisions, and a broken link joins nothing.
    """

    __tablename__ = "family_links"
    __table_args__ = (
        UniqueConstraint("doc_a", "doc_b", "kind", name="uq_family_links_pair_kind"),
        CheckConstraint("doc_a < doc_b", name="ck_family_links_order"),
        CheckConstraint(
            "kind IN ('copy', 'edited_copy', 'rescan', 'translation')", name="ck_family_links_kind"
        ),
        CheckConstraint("status IN ('auto', 'confirmed', 'broken')", name="ck_family_links_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_a: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    doc_b: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    score: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), default="auto", server_default="auto")
    details: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(150))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
