"""The ``archive`` command line (contracts in docs/architecture.md).

Why one module: one Typer application for the ``archive`` command; each command is a short function
over the service layer, and the heavy imports stay inside the commands that need them, so splitting
it would scatter the commands without shortening any path.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from archive_search.errors import ArchiveError, InvalidRequestError
from archive_search.settings import Settings, get_settings
from archive_search.types import LOCAL_ADMIN, FileReport, SearchMode, SearchRequest
from search_api.safe_text import terminal_safe

if TYPE_CHECKING:
    from rich.progress import Progress

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Archive search: ingest, search, serve.")
err = Console(stderr=True, soft_wrap=True)  # no line breaks of its own inside a file name


def shown(value: object) -> str:
    """Text from uploads or users for ``err.print``: control characters escaped, Rich markup inert."""
    from rich.markup import escape

    return escape(terminal_safe(str(value)))


SEARCH_MODES: dict[str, SearchMode] = {"hybrid": "hybrid", "keyword": "keyword", "semantic": "semantic"}


def _service(settings: Settings | None = None) -> Any:
    from search_api.service import ArchiveService

    return ArchiveService(settings or get_settings())


def _fail(exc: ArchiveError) -> None:
    err.print(f"[red]error[/red] ({exc.code}): {shown(exc.message)}")
    raise typer.Exit(2)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders", exists=True)],
    collection: Annotated[str | None, typer.Option(help="Collection to add to")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Also wait until embeddings are indexed")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job report as JSON")] = False,
    queue: Annotated[
        bool | None,
        typer.Option(
            "--queue/--no-queue",
            help="Store the files and queue them for `archive worker` processes, then return "
            "(default: ARCHIVE_INGEST_QUEUE)",
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="Password of encrypted PDFs (visible to other users of this machine in the process "
            "list: prefer --password-stdin); never logged or stored",
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password of encrypted PDFs from stdin")
    ] = False,
) -> None:
    """Ingest files; they are keyword-searchable when this returns (resumable: re-running skips
    files already in the collection). With --queue, workers ingest them (--wait: wait for them).
    Encrypted PDFs open with --password; without it (or with a wrong one) they end
    failed(encrypted), and ingesting them again with the password adds them."""
    from ingest.pipeline import iter_files

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    svc = _service()
    if queue if queue is not None else svc.settings.ingest_queue:
        if password:
            svc.close()
            err.print("--password cannot be used with --queue (workers would need it stored)")
            raise typer.Exit(2)
        try:
            _ingest_queued(svc, paths, collection, wait=wait, as_json=as_json)
        except ArchiveError as exc:
            _fail(exc)
        finally:
            svc.close()
        return
    try:
        total = sum(1 for _ in iter_files(paths))
        with _progress() as bar:
            task = bar.add_task("ingest", total=total)

            def on_file(r: FileReport) -> None:
                bar.advance(task)
                if r.outcome != "ok" and not as_json:
                    err.print(f"{r.outcome.value}({r.code}) {shown(r.path)}: {shown(r.message or '')}")

            idx_task = bar.add_task("index", total=None, visible=False)

            def on_index(done: int, tot: int) -> None:
                bar.update(idx_task, completed=done, total=tot, visible=True)

            report = svc.ingest(
                paths, collection, progress=on_file, index_progress=on_index, password=password or None
            )
        svc.cases.audit.record(
            "local",
            "ingest",
            "job",
            report.job_id,
            {"collection": collection or svc.settings.default_collection, **report.counts()},
        )
        if wait:
            _embed_all(svc)
        counts = report.counts()
        if as_json:
            print(report.model_dump_json())
        else:
            ok, failed, skipped = counts["ok"], counts["failed"], counts["skipped"]
            err.print(f"job {report.job_id}: {ok} ok, {failed} failed, {skipped} skipped")
        if counts["failed"]:
            raise typer.Exit(1)
    except ArchiveError as exc:
        _fail(exc)
    finally:
        svc.close()


def _ingest_queued(svc: Any, paths: list[Path], collection: str | None, *, wait: bool, as_json: bool) -> None:
    """``archive ingest --queue``: originals into the store, one queued item per file."""
    from ingest.pipeline import iter_files

    q = svc.jobs.queue()
    name = collection or svc.settings.default_collection
    total = sum(1 for _ in iter_files(paths))
    with _progress() as bar:
        task = bar.add_task("queue", total=total)
        sub = q.submit(paths, name, progress=lambda _p: bar.advance(task))
    for r in sub.refused:
        if not as_json:
            err.print(f"{r.outcome.value}({r.code}) {shown(r.path)}: {shown(r.message or '')}")
    svc.cases.audit.record(
        "local",
        "ingest",
        "job",
        sub.job_id,
        {"collection": name, "queued": sub.queued, "refused": len(sub.refused)},
    )
    counts = q.job_counts(sub.job_id)
    if wait:
        with _progress() as bar:
            task = bar.add_task("workers", total=sub.queued)
            while (left := q.outstanding(sub.job_id)) > 0:
                bar.update(task, completed=sub.queued - left)
                time.sleep(svc.settings.queue_poll_s)
        counts = q.job_counts(sub.job_id)
        while svc.status()["pending_index"] or (
            svc.embedder() is not None and svc.status()["pending_embedding"]
        ):
            time.sleep(svc.settings.queue_poll_s)  # the workers index and embed what they ingested
    if as_json:
        refused = [r.model_dump(mode="json") for r in sub.refused]
        print(json.dumps({"job_id": sub.job_id, "queued": sub.queued, "states": counts, "refused": refused}))
    else:
        states = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        err.print(f"job {sub.job_id}: {sub.queued} queued for workers ({states})")
    if counts.get("failed"):
        raise typer.Exit(1)


def _embed_all(svc: Any) -> None:
    pending = svc.status()["pending_embedding"]
    if not pending or svc.embedder() is None:
        return
    with _progress() as bar:
        task = bar.add_task("embed", total=pending)
        svc.embed_pending(progress=lambda done, tot: bar.update(task, completed=done, total=tot))


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of files by outcome, documents, passages, pending work and the index's embedder."""
    svc = _service()
    try:
        st = svc.status()
    finally:
        svc.close()
    if as_json:
        print(json.dumps(st, ensure_ascii=False))
        return
    f = st["files"]
    a = st["attempts"]
    print(f"files:       {f['ok']} ok, {f['failed']} failed, {f['skipped']} skipped (by latest attempt)")
    print(f"attempts:    {a['ok']} ok, {a['failed']} failed, {a['skipped']} skipped (every run)")
    print(f"queue:       {st['queue']['queued']} queued, {st['queue']['running']} running")
    print(f"documents:   {st['documents']} in {st['collections']} collections")
    print(
        f"passages:    {st['passages']} ({st['pending_index']} waiting for the keyword index, "
        f"{st['pending_embedding']} waiting for embeddings)"
    )
    print(f"embedder:    {st['embedder'] or '-'} (configured: {st['configured_embedder']})")
    if st["index_errors"]:
        errors = ", ".join(f"{n} {code}" for code, n in sorted(st["index_errors"].items()))
        print(f"index errors: {errors} (pending; retried on the next indexing run)")
    b = st["backend"]
    print(f"backend:     {b.get('backend')} {b.get('status')}")
    if "cluster_health" in b:
        print(f"cluster:     {b['cluster_health']} ({b.get('nodes', '?')} nodes)")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Query in the query language")] = None,
    queries: Annotated[Path | None, typer.Option(help='JSONL file of {"_id", "text"} queries')] = None,
    mode: Annotated[str, typer.Option(help="hybrid | keyword | semantic")] = "hybrid",
    lang: Annotated[list[str] | None, typer.Option(help="Language filter (repeatable)")] = None,
    collection: Annotated[list[str] | None, typer.Option(help="Collection filter (repeatable)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    every: Annotated[
        bool, typer.Option("--all", help="Every hit (no limit), with provenance, to standard output")
    ] = False,
    fmt: Annotated[str, typer.Option("--format", help="With --all: csv | jsonl")] = "csv",
    group: Annotated[str, typer.Option(help="With --all: passage | document")] = "passage",
    redact_case: Annotated[
        int | None, typer.Option("--redact-case", help="With --all: mask with this case's redaction rule")
    ] = None,
) -> None:
    """Search the archive (one query, or a JSONL file of queries with --queries); with --all,
    every hit as CSV or JSON Lines (the first line says what was searched and whether the list
    is exhaustive)."""
    if mode not in SEARCH_MODES:
        err.print("--mode must be hybrid, keyword or semantic")
        raise typer.Exit(2)
    if (query is None) == (queries is None):
        err.print("give either a QUERY or --queries FILE")
        raise typer.Exit(2)
    if every:
        if query is None or fmt not in ("csv", "jsonl") or group not in ("passage", "document"):
            err.print("--all needs a QUERY, --format csv or jsonl and --group passage or document")
            raise typer.Exit(2)
        _export_all(query, SEARCH_MODES[mode], lang or [], collection or [], fmt, group, redact_case)
        return
    svc = _service(get_settings().model_copy(update={"max_page_size": max(1000, limit)}))
    try:

        def run(text: str) -> Any:
            req = SearchRequest(
                q=text,
                mode=SEARCH_MODES[mode],
                lang=lang or [],
                collections=collection or [],
                size=limit,
            )
            # the plain output shows neither the query's language (its detector loads in ~1 s)
            # nor the further passages of a document (their snippets): brief leaves both out
            return svc.search(req, LOCAL_ADMIN, brief=not as_json and queries is None)

        if queries is not None:
            with queries.open(encoding="utf-8") as fh:
                for n, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                        qid, text = str(item["_id"]), str(item["text"])
                    except (ValueError, KeyError, TypeError):
                        err.print(f'line {n}: expected {{"_id": ..., "text": ...}}')
                        raise typer.Exit(2) from None
                    try:
                        out = {"query_id": qid, **run(text).model_dump()}
                    except ArchiveError as exc:
                        out = {"query_id": qid, "error": {"code": exc.code, "message": exc.message}}
                    print(json.dumps(out, ensure_ascii=False))
            return
        assert query is not None
        try:
            res = run(query)
        except ArchiveError as exc:
            _fail(exc)
            return
        if as_json:
            print(res.model_dump_json())
            return
        count = f"at least {res.total}" if res.total_relation == "gte" else str(res.total)
        print(f"{count} matches ({res.mode}, {res.took_ms} ms)")
        for h in res.hits:
            where = f"p.{h.page}" if h.page else (f"{h.time_start:.0f}s" if h.time_start is not None else "")
            name, col = terminal_safe(h.filename), terminal_safe(h.collection)
            print(f"- [{col}] {name} {where} ({h.lang}) score={h.score:.4f}")
            print(f"  {terminal_safe(h.snippet)}")
    finally:
        svc.close()


def _export_all(
    query: str,
    mode: Any,
    lang: list[str],
    collection: list[str],
    fmt: str,
    group: str,
    redact_case: int | None = None,
) -> None:
    """``archive search --all``: every hit streamed to standard output (with ``--redact-case``,
    masked by that case's redaction rule)."""
    from search_api.hits_export import annotator, prepared, recorded, stream

    svc = _service()
    try:
        req = SearchRequest(q=query, mode=mode, lang=lang, collections=collection, group=group)  # type: ignore[arg-type]
        try:
            info, hits, head, scrub = prepared(svc, LOCAL_ADMIN, req, redact_case=redact_case)
        except ArchiveError as exc:
            _fail(exc)
            return
        out = sys.stdout.buffer
        logged = recorded(svc, LOCAL_ADMIN, req, info, fmt, hits, redact_case=redact_case)
        for block in stream(fmt, head, logged, annotator(svc), scrub):  # type: ignore[arg-type]
            out.write(block)
        out.flush()
        err.print(f"{info.total} hits ({info.mode}{'' if info.exhaustive else ', ranked, not exhaustive'})")
    finally:
        svc.close()


@app.command()
def reindex(
    embeddings: Annotated[
        bool, typer.Option("--embeddings", help="Also drop and recompute embeddings")
    ] = False,
) -> None:
    """Rebuild the search index from the catalog."""
    svc = _service()
    try:
        with _progress() as bar:
            task = bar.add_task("reindex", total=None)
            n = svc.reindex(
                drop_embeddings=embeddings, progress=lambda d, t: bar.update(task, completed=d, total=t)
            )
        err.print(f"reindexed {n} passages")
    except ArchiveError as exc:
        _fail(exc)
    finally:
        svc.close()


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Do the pending work (queue included), then exit")
    ] = False,
    poll: Annotated[
        float | None, typer.Option(help="Seconds between polls when idle (default: ARCHIVE_QUEUE_POLL_S)")
    ] = None,
    max_idle: Annotated[float | None, typer.Option(help="Exit after this many seconds without work")] = None,
    index: Annotated[
        bool, typer.Option("--index/--no-index", help="Also index and embed pending passages")
    ] = True,
) -> None:
    """Background work: ingest queued files (`archive ingest --queue`), index and embed pending
    passages (resumable; safe to kill: a killed worker's file is taken over after its lease)."""
    from ingest.worker import run_worker

    svc = _service()
    q = svc.jobs.queue()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        run_worker(
            svc.jobs,
            q,
            reopen_backend=svc.reopen_backend,
            stop=stop,
            say=err.print,
            once=once,
            wait_s=poll if poll is not None else svc.settings.queue_poll_s,
            max_idle=max_idle,
            index=index,
        )
    except KeyboardInterrupt:
        pass
    except ArchiveError as exc:
        _fail(exc)
    finally:
        q.release()
        svc.close()


user_app = typer.Typer(no_args_is_help=True, help="User accounts.")
group_app = typer.Typer(no_args_is_help=True, help="Groups of users.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens for scripts.")
app.add_typer(user_app, name="user")
app.add_typer(group_app, name="group")
app.add_typer(token_app, name="token")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            err.print("no password on standard input")
            raise typer.Exit(2)
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        err.print("no terminal to ask for a password: use --password-stdin")
        raise typer.Exit(2)
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _accounts_call(fn: Any) -> None:
    """Run ``fn(service)`` and turn the project's errors into a message and exit code 2."""
    svc = _service()
    try:
        fn(svc)
    except ArchiveError as exc:
        _fail(exc)
    finally:
        svc.close()


@user_app.command("create")
def user_create(
    name: Annotated[str, typer.Argument(help="User name")],
    admin: Annotated[bool, typer.Option("--admin", help="Administrator: every collection")] = False,
    role: Annotated[str, typer.Option(help="viewer | editor | admin")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin")
    ] = False,
) -> None:
    """Create a user (there are no default accounts or passwords)."""
    password = _read_password(password_stdin)
    chosen = "admin" if admin else role
    if chosen not in ("viewer", "editor", "admin"):
        err.print("--role must be viewer, editor or admin")
        raise typer.Exit(2)
    _accounts_call(lambda svc: svc.accounts.create_user(name, password, role=chosen))
    err.print(f"user {name} created ({chosen})")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
) -> None:
    """Set a user's password; every token of the user is revoked."""
    password = _read_password(password_stdin)
    _accounts_call(lambda svc: svc.accounts.set_password(name, password))
    err.print(f"password of {name} changed; its tokens are revoked")


@group_app.command("create")
def group_create(name: Annotated[str, typer.Argument(help="Group name")]) -> None:
    """Create a group."""
    _accounts_call(lambda svc: svc.accounts.create_group(name))
    err.print(f"group {name} created")


@group_app.command("add")
def group_add(group: Annotated[str, typer.Argument()], user: Annotated[str, typer.Argument()]) -> None:
    """Add a user to a group."""
    _accounts_call(lambda svc: svc.accounts.add_to_group(group, user))
    err.print(f"{user} added to {group}")


@group_app.command("remove")
def group_remove(group: Annotated[str, typer.Argument()], user: Annotated[str, typer.Argument()]) -> None:
    """Remove a user from a group."""
    _accounts_call(lambda svc: svc.accounts.remove_from_group(group, user))
    err.print(f"{user} removed from {group}")


@app.command()
def grant(
    collection: Annotated[str, typer.Argument(help="Collection (created if missing)")],
    permission: Annotated[str, typer.Argument(help="read | write | manage")],
    user: Annotated[str | None, typer.Option("--user", help="Grant to this user")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Grant to this group")] = None,
) -> None:
    """Grant a user or a group a permission on a collection (write implies read, manage implies write)."""
    _accounts_call(lambda svc: svc.accounts.grant(collection, permission, user=user, group=group))
    err.print(f"granted {permission} on {collection} to {user or group}")


@app.command()
def revoke(
    collection: Annotated[str, typer.Argument(help="Collection")],
    permission: Annotated[
        str, typer.Argument(help="read (removes the grant) | write (leaves read) | manage")
    ] = "read",
    user: Annotated[str | None, typer.Option("--user")] = None,
    group: Annotated[str | None, typer.Option("--group")] = None,
) -> None:
    """Take a permission (and those above it) on a collection from a user or a group."""
    done: list[bool] = []
    _accounts_call(
        lambda svc: done.append(svc.accounts.revoke(collection, permission, user=user, group=group))
    )
    err.print(f"revoked {collection} from {user or group}" if done and done[0] else "there was no such grant")


@token_app.command("create")
def token_create(
    user: Annotated[str, typer.Argument(help="User the token acts as")],
    name: Annotated[str, typer.Option(help="What the token is for")] = "script",
    days: Annotated[float | None, typer.Option(help="Lifetime in days (default: no expiry)")] = None,
) -> None:
    """Print a new API token for scripts (shown once; only its hash is stored)."""
    from datetime import timedelta

    out: list[str] = []
    ttl = timedelta(days=days) if days is not None else None
    _accounts_call(lambda svc: out.append(svc.accounts.create_token_for(user, name=name, ttl=ttl)[0]))
    print(out[0])


documents_app = typer.Typer(
    no_args_is_help=True, help="Duty of care: withdraw, restore, purge, hold, restrict and redact documents."
)
app.add_typer(documents_app, name="documents")
retention_app = typer.Typer(no_args_is_help=True, help="Per-collection review periods.")
app.add_typer(retention_app, name="retention")


def _operator() -> Any:
    """The local administrator, named after the operating-system user (recorded in the audit log)."""
    import dataclasses
    import getpass

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return dataclasses.replace(LOCAL_ADMIN, name=f"local:{who}")


def _care_call(fn: Any) -> None:
    """Run ``fn(care service, principal)`` and print its answer as JSON."""
    out: list[Any] = []
    _accounts_call(lambda svc: out.append(fn(svc.care, _operator())))
    print(json.dumps(out[0], ensure_ascii=False, indent=2))


@documents_app.command("withdraw")
def documents_withdraw(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
) -> None:
    """Withdraw a document (and its archive members): out of every search, read and export at once."""
    _care_call(lambda care, who: care.withdraw(document_id, reason, who))


@documents_app.command("restore")
def documents_restore(document_id: Annotated[int, typer.Argument(help="Document id")]) -> None:
    """Undo a withdrawal before the purge; the document is indexed again."""
    _care_call(lambda care, who: care.restore(document_id, who))


@documents_app.command("purge")
def documents_purge(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
) -> None:
    """Delete a withdrawn document's content for good (after ARCHIVE_PURGE_HOLD_DAYS, without a
    legal hold); a tombstone (SHA-256, reason, who, when) stays in the audit log."""
    if not yes and not typer.confirm(f"Purge document {document_id} and every copy of it for good?"):
        raise typer.Exit(1)
    _care_call(lambda care, who: care.purge(document_id, who))


@documents_app.command("status")
def documents_status(document_id: Annotated[int, typer.Argument(help="Document id")]) -> None:
    """Withdrawal, purge, legal hold and restriction state of a document."""
    _care_call(lambda care, who: care.state(document_id, who))


@documents_app.command("withdrawn")
def documents_withdrawn() -> None:
    """Every withdrawn document, with the date from which it may be purged."""
    _care_call(lambda care, who: care.withdrawn(who))


@documents_app.command("hold")
def documents_hold(
    document_id: Annotated[int | None, typer.Argument(help="Document id (or --collection)")] = None,
    collection: Annotated[str | None, typer.Option(help="Hold a whole collection")] = None,
    release: Annotated[bool, typer.Option("--release", help="Lift the hold")] = False,
) -> None:
    """Put (or with --release lift) a legal hold on a document or a collection: no purge."""
    _care_call(
        lambda care, who: care.set_hold(who, on=not release, document_id=document_id, collection=collection)
    )


@documents_app.command("restrict")
def documents_restrict(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    user: Annotated[
        list[str] | None, typer.Option("--user", help="A user who may read it (repeatable)")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="A group that may read it (repeatable)")
    ] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction")] = False,
) -> None:
    """Restrict a document to named users and groups (besides admins and the collection's managers)."""
    if lift:
        _care_call(lambda care, who: care.unrestrict(document_id, who))
    else:
        _care_call(lambda care, who: care.restrict(document_id, who, users=user or [], groups=group or []))


@documents_app.command("restrict-passage")
def documents_restrict_passage(
    passage_id: Annotated[int, typer.Argument(help="Passage id")],
    user: Annotated[
        list[str] | None, typer.Option("--user", help="A user who may read it (repeatable)")
    ] = None,
    group: Annotated[
        list[str] | None, typer.Option("--group", help="A group that may read it (repeatable)")
    ] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Lift the restriction")] = False,
) -> None:
    """Restrict one passage to named users and groups: everyone else finds it in no search and
    reads it as withheld."""
    if lift:
        _care_call(lambda care, who: care.unrestrict_passage(passage_id, who))
    else:
        _care_call(
            lambda care, who: care.restrict_passage(passage_id, who, users=user or [], groups=group or [])
        )


def _redaction_call(fn: Any) -> None:
    """Run ``fn(redaction service, principal)`` and print its answer as JSON."""
    out: list[Any] = []
    _accounts_call(lambda svc: out.append(fn(svc.redactions, _operator())))
    print(json.dumps(out[0], ensure_ascii=False, indent=2))


@documents_app.command("redact")
def documents_redact(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
    text: Annotated[
        str | None, typer.Option("--text", help="Every occurrence of this text (whole words, any case)")
    ] = None,
    passage: Annotated[int | None, typer.Option("--passage", help="Or this passage (its id)")] = None,
    start: Annotated[int | None, typer.Option(help="With --passage: first character of the span")] = None,
    end: Annotated[int | None, typer.Option(help="With --passage: after the span's last character")] = None,
    page: Annotated[int | None, typer.Option("--page", help="Or a region of this (scanned) page")] = None,
    region: Annotated[
        str | None,
        typer.Option(
            "--region", help="With --page: X,Y,W,H as fractions 0..1 of the page, from its top left"
        ),
    ] = None,
) -> None:
    """Redact a name, a passage or a region of a scanned page: masked in every text readers see
    and out of the search index, blacked out in page images; the original file is kept unchanged
    (its managers still read it)."""
    if (page is None) != (region is None):
        _fail(InvalidRequestError("--page and --region go together"))
    if page is not None and region is not None:
        try:
            x, y, w, h = (float(v) for v in region.split(","))
        except ValueError:
            _fail(InvalidRequestError("--region is X,Y,W,H: four numbers between 0 and 1"))
        _redaction_call(
            lambda r, who: r.redact_region(document_id, who, reason=reason, page=page, x=x, y=y, w=w, h=h)
        )
        return
    _redaction_call(
        lambda r, who: r.redact_document(
            document_id, who, reason=reason, phrase=text, passage_id=passage, start=start, end=end
        )
    )


@documents_app.command("redactions")
def documents_redactions(
    document_id: Annotated[int | None, typer.Argument(help="Document id (omit: every redaction)")] = None,
) -> None:
    """A document's redactions with the text each span masked (or every redaction, without it)."""
    if document_id is None:
        _redaction_call(lambda r, who: r.listing(who))
    else:
        _redaction_call(lambda r, who: r.of_document(document_id, who))


@documents_app.command("unredact")
def documents_unredact(redaction_id: Annotated[int, typer.Argument(help="Redaction id")]) -> None:
    """Lift a redaction: its text comes back where no other redaction covers it."""
    _redaction_call(lambda r, who: r.lift(redaction_id, who))


@documents_app.command("ocr-boxes")
def documents_ocr_boxes(
    document_ids: Annotated[
        list[int] | None, typer.Argument(help="Document ids (omit: every document that needs them)")
    ] = None,
    redacted_only: Annotated[
        bool, typer.Option("--redacted-only", help="Only documents that have redactions")
    ] = False,
) -> None:
    """Keep OCR word positions for scanned pages OCR'd before they were kept: the documents are
    OCR'd again, so that their redacted words can be blacked out in page images and bundles."""
    from ingest.ocr_boxes import fill_word_boxes
    from ingest.sandbox import extraction_limits

    out: list[Any] = []

    def run(svc: Any) -> None:
        out.extend(
            fill_word_boxes(
                svc.catalog,
                svc.store,
                extraction_limits(svc.settings),
                list(document_ids or []) or None,
                redacted_only=redacted_only,
            )
        )

    _accounts_call(run)
    print(json.dumps(out, ensure_ascii=False, indent=2))


@retention_app.command("set")
def retention_set(
    collection: Annotated[str, typer.Argument(help="Collection name")],
    days: Annotated[int | None, typer.Argument(help="Review period in days (omit to clear)")] = None,
) -> None:
    """Set or clear a collection's review period."""
    _care_call(lambda care, who: care.set_retention(collection, days, who))


@retention_app.command("due")
def retention_due(
    collection: Annotated[str | None, typer.Option(help="Only this collection")] = None,
) -> None:
    """Documents past their collection's review period (nothing is deleted)."""
    _care_call(lambda care, who: care.due_for_review(who, collection=collection))


@app.command()
def check(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    fix: Annotated[
        bool, typer.Option("--fix", help="Make what other accounts may read private (0700/0600) first")
    ] = False,
) -> None:
    """Re-hash every original against the catalog, check the catalog's integrity, and list what in
    the data folder (and the SQLite catalog) other local accounts may read; exit 1 on any problem."""
    from archive_search.catalog.maintenance import check as run_check
    from archive_search.catalog.private import catalog_file_of, fix_permissions, permission_problems

    settings = get_settings()
    catalog_file = catalog_file_of(settings.catalog_url)
    fixed = fix_permissions(settings.data_dir, catalog_file) if fix else 0
    # before the service starts, which makes the data folder itself private
    open_paths = permission_problems(settings.data_dir, catalog_file)
    svc = _service()
    try:
        with _progress() as bar:
            task = bar.add_task("check", total=None)
            report = run_check(svc.catalog, svc.store, lambda d, t: bar.update(task, completed=d, total=t))
    finally:
        svc.close()
    report.permissions = [f"{mode} {path}" for mode, path in open_paths]
    if as_json:
        print(json.dumps({"ok": report.ok, "fixed": fixed, **report.__dict__}))
    else:
        print(
            f"originals: {report.originals} checked, {len(report.missing)} missing, "
            f"{len(report.mismatched)} not matching their SHA-256"
        )
        print(f"catalog integrity: {report.integrity}")
        if fix:
            print(f"permissions: {fixed} paths made private")
        print(f"permissions: {len(open_paths)} paths other accounts may read or enter")
        for sha in report.missing:
            print(f"missing: {sha}")
        for sha in report.mismatched:
            print(f"changed: {sha}")
        for mode, path in open_paths:
            print(f"not private: {mode} {shown(str(path))}")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def backup(dest: Annotated[Path, typer.Argument(help="An empty or new folder")]) -> None:
    """Back up the catalog (consistent snapshot, safe while serving) and every original, verified."""
    from archive_search.catalog.maintenance import backup as run_backup

    svc = _service()
    try:
        with _progress() as bar:
            task = bar.add_task("backup", total=None)
            manifest = run_backup(
                svc.catalog, svc.store, dest, lambda d, t: bar.update(task, completed=d, total=t)
            )
    except (ValueError, FileExistsError, RuntimeError) as exc:
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    finally:
        svc.close()
    err.print(f"backup written to {dest}: catalog and {manifest['originals']} originals")


@app.command()
def restore(
    src: Annotated[Path, typer.Argument(help="A folder written by `archive backup`", exists=True)],
) -> None:
    """Restore a backup into the (empty) data folder, then rebuild the search index from it."""
    from archive_search.catalog.maintenance import restore as run_restore

    settings = get_settings()
    if settings.database_url:
        err.print("restore handles the embedded SQLite catalog; ARCHIVE_DATABASE_URL is set")
        raise typer.Exit(2)
    catalog_file = settings.data_dir / "catalog.sqlite3"
    try:
        n = run_restore(src, settings.data_dir, catalog_file)
    except (FileExistsError, RuntimeError) as exc:
        err.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from None
    svc = _service(settings)
    try:
        count = svc.reindex()
    finally:
        svc.close()
    err.print(f"restored {n} originals and the catalog into {settings.data_dir}; reindexed {count} passages")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
    embed: Annotated[bool, typer.Option(help="Embed pending passages in the background")] = True,
) -> None:
    """Run the HTTP API (and the embedding queue in a background thread)."""
    import uvicorn

    from archive_search.web import create_app

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    if not _is_loopback(host):
        err.print(
            f"[yellow]warning[/yellow]: listening on {host} without TLS; tokens and documents cross the "
            "network in clear text unless a TLS-terminating reverse proxy is in front (docs/security.md)"
        )
    svc = _service(settings)
    stop = threading.Event()

    def embed_loop() -> None:
        while not stop.is_set():
            try:
                n = svc.embed_pending(limit=settings.embed_batch_size * 4, should_stop=stop.is_set)
            except Exception as exc:  # keep serving searches; report and retry later
                err.print(f"embedding paused: {exc}")
                n = 0
                stop.wait(30)
            if n == 0:
                stop.wait(2)

    if embed and settings.embedder != "none":
        threading.Thread(target=embed_loop, name="embedder", daemon=True).start()
    base = f"http://{host}:{port}"
    print(f"archive search at {base}/  (API schema: {base}/api/v1/openapi.json)", flush=True)
    try:
        proxy = settings.forwarded_allow_ips
        uvicorn.run(
            create_app(settings, svc),
            host=host,
            port=port,
            log_level="warning",
            proxy_headers=proxy is not None,
            forwarded_allow_ips=proxy,
        )
    finally:
        stop.set()
        time.sleep(0.1)
        svc.close()


cases_app = typer.Typer(no_args_is_help=True, help="Case files: the redaction rule of a case's bundles.")
app.add_typer(cases_app, name="cases")


@cases_app.command("redaction-rule")
def cases_redaction_rule(
    case_id: Annotated[int, typer.Argument(help="Case id")],
    entity_type: Annotated[
        list[str] | None,
        typer.Option(
            "--type", help="An entity type masked in bundles: person, place, org, phone, email, docnum"
        ),
    ] = None,
    keep: Annotated[
        list[int] | None, typer.Option("--keep", help="An entity id left unmasked (repeatable)")
    ] = None,
    term: Annotated[
        list[str] | None, typer.Option("--term", help="A word or phrase masked (repeatable)")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the audit log)")] = None,
    lift: Annotated[bool, typer.Option("--lift", help="Remove the rule")] = False,
) -> None:
    """Show, set (with --type/--keep/--term and --reason) or remove (--lift) the redaction rule that
    masks every bundle of a case, evaluated each time a bundle is built."""
    from pydantic import ValidationError

    from search_api.bundle_redaction import RedactionRuleBody, get_rule, lift_rule, set_rule

    who = _operator()
    out: list[Any] = []

    def run(svc: Any) -> None:
        if lift:
            out.append(lift_rule(svc.cases, case_id, who))
        elif entity_type or keep or term or reason:
            try:
                body = RedactionRuleBody.model_validate(
                    {
                        "entity_types": entity_type or [],
                        "keep_entities": keep or [],
                        "terms": term or [],
                        "reason": reason or "",
                    }
                )
            except ValidationError as exc:
                raise InvalidRequestError(f"invalid rule: {exc.errors()[0]['msg']}") from exc
            out.append(set_rule(svc.cases, case_id, body, who))
        else:
            out.append(get_rule(svc.cases, case_id, who))

    _accounts_call(run)
    print(json.dumps(out[0], ensure_ascii=False, indent=2))


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(audit_app, name="audit")


@app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(help="A case export (ZIP) or the folder it was unpacked into")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-check every SHA-256 of an evidence bundle; exit 1 naming each file that is wrong."""
    from search_api.export import verify_bundle as check

    if not path.exists():
        err.print(f"{path}: no such file or folder")
        raise typer.Exit(2)
    problems, checked = check(path)
    if as_json:
        print(json.dumps({"ok": not problems, "checked": checked, "problems": problems}, ensure_ascii=False))
    elif problems:
        for p in problems:
            err.print(f"[red]FAIL[/red] {shown(p)}", highlight=False)
        err.print(f"{path}: {len(problems)} problem(s); {checked} file(s) could be hashed")
    else:
        print(f"{path}: OK, {checked} files match their SHA-256 in the manifest")
    if problems:
        raise typer.Exit(1)


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Walk the audit chain; exit 1 naming the first edited, removed or reordered entry."""
    from archive_search.catalog.db import Catalog
    from search_api.audit import AuditLog

    catalog = Catalog(get_settings().catalog_url)
    try:
        res = AuditLog(catalog).verify()
    finally:
        catalog.close()
    if as_json:
        print(json.dumps(res.__dict__, ensure_ascii=False))
    elif res.ok:
        print(f"audit log intact: {res.entries} entries, chain verified")
    else:
        err.print(f"[red]audit log TAMPERED[/red]: {res.problem}", highlight=False)
        err.print(f"{res.entries} entries before it verified")
    if not res.ok:
        raise typer.Exit(1)


@audit_app.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The newest entries of the audit log, newest first."""
    from archive_search.catalog.db import Catalog
    from search_api.audit import AuditLog, entry_public

    catalog = Catalog(get_settings().catalog_url)
    try:
        entries = [entry_public(e) for e in AuditLog(catalog).recent(limit)]
    finally:
        catalog.close()
    for e in entries:
        if as_json:
            print(json.dumps(e, ensure_ascii=False))
        else:
            obj = f" {e['object_type']}:{e['object_id']}" if e["object_type"] else ""
            details = json.dumps(e["details"], ensure_ascii=False)
            print(terminal_safe(f"{e['id']:>7} {e['at']} {e['actor']} {e['action']}{obj} {details}"))


# -- entities (issue 18) ------------------------------------------------------------------------

entities_app = typer.Typer(no_args_is_help=True, help="People, places, organisations across spellings.")
app.add_typer(entities_app, name="entities")


@entities_app.command("list")
def entities_list(
    type_: Annotated[str | None, typer.Option("--type", help="person|place|org|phone|email|docnum")] = None,
    q: Annotated[str | None, typer.Option("--q", help="A name in any spelling")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Entities, most mentioned first."""

    def run(svc: Any) -> None:
        for e in svc.entities.list_entities(LOCAL_ADMIN, etype=type_, q=q, limit=limit):
            if as_json:
                print(json.dumps(e.model_dump(), ensure_ascii=False))
            else:
                print(f"{e.id:>7} {e.type:<7} {e.mentions:>6} mentions {e.documents:>5} docs  {e.name}")

    _accounts_call(run)


@entities_app.command("show")
def entities_show(
    entity_id: Annotated[int, typer.Argument(min=1)],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """One entity: spellings, documents, passages, co-occurring entities, timeline."""

    def run(svc: Any) -> None:
        e = svc.entities.get_entity(entity_id, LOCAL_ADMIN)
        if as_json:
            print(json.dumps(e.model_dump(), ensure_ascii=False))
            return
        print(f"{e.id} {e.type}: {e.name} ({e.mentions} mentions in {e.documents} documents)")
        print("spellings: " + ", ".join(f"{k} ×{v}" for k, v in e.spellings.items()))
        print("timeline: " + ", ".join(f"{k}: {v}" for k, v in e.timeline.items()))
        print("with: " + ", ".join(f"{c.name} ({c.type}, {c.count})" for c in e.cooccurring[:15]))
        for d in e.documents_list[:20]:
            print(f"  doc {d.document_id} {d.date or '-'} {d.filename} ×{d.mentions}")

    _accounts_call(run)


@entities_app.command("redact")
def entities_redact(
    entity_id: Annotated[int, typer.Argument(help="Entity id")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
) -> None:
    """Redact every spelling of an entity in every document that mentions it."""
    _redaction_call(lambda r, who: r.redact_entity(entity_id, who, reason=reason))


@entities_app.command("rename")
def entities_rename(
    entity_id: Annotated[int, typer.Argument(min=1)], name: Annotated[str, typer.Argument()]
) -> None:
    """Give an entity the name shown everywhere (audited)."""
    from search_api.entities import EntityRename

    _accounts_call(
        lambda svc: print(svc.entities.rename(entity_id, EntityRename(name=name), LOCAL_ADMIN).name)
    )


@entities_app.command("merge")
def entities_merge(
    into: Annotated[int, typer.Argument(min=1, help="The entity that stays")],
    others: Annotated[list[int], typer.Argument(help="Entities merged into it")],
) -> None:
    """Merge entities into one (audited; the index follows)."""
    from search_api.entities import EntityMerge

    def run(svc: Any) -> None:
        e = svc.entities.merge(into, EntityMerge(ids=others), LOCAL_ADMIN)
        print(f"{e.id} {e.name}: {e.mentions} mentions in {e.documents} documents")

    _accounts_call(run)


@entities_app.command("split")
def entities_split(
    entity_id: Annotated[int, typer.Argument(min=1)],
    aliases: Annotated[list[str], typer.Argument(help="Spellings (display forms) moved to a new entity")],
) -> None:
    """Move some spellings of an entity to a new entity (audited; the index follows)."""
    from search_api.entities import EntitySplit

    def run(svc: Any) -> None:
        e = svc.entities.split(entity_id, EntitySplit(aliases=aliases), LOCAL_ADMIN)
        print(f"new entity {e.id} {e.name}: {e.mentions} mentions")

    _accounts_call(run)


@entities_app.command("rebuild")
def entities_rebuild() -> None:
    """Extract the entities of every passage again (an archive ingested before entities existed,
    or after an upgrade of the extraction); staff names and merges are kept."""
    _accounts_call(lambda svc: print(json.dumps(svc.entities.rebuild(LOCAL_ADMIN))))


families_app = typer.Typer(no_args_is_help=True, help="Document families: copies, re-scans, translations.")
app.add_typer(families_app, name="families")


@families_app.command("rebuild")
def families_rebuild(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    pending_only: Annotated[
        bool, typer.Option("--pending", help="Only the documents not fingerprinted yet (no full rebuild)")
    ] = False,
) -> None:
    """Fingerprint every document again and rebuild the automatic family links (confirmed and
    broken links, people's decisions, stay)."""
    svc = _service()
    try:
        builder = svc.jobs.families()
        with _progress() as bar:
            task = bar.add_task("families", total=None)

            def on(done: int, tot: int) -> None:
                bar.update(task, completed=done, total=tot)

            rep = builder.update_pending(progress=on) if pending_only else builder.rebuild(progress=on)
        svc.cases.audit.record(
            "local", "families_rebuild", None, None, {"pending_only": pending_only, **rep.as_dict()}
        )
        if as_json:
            print(json.dumps(rep.as_dict()))
        else:
            links = ", ".join(f"{k} {v}" for k, v in rep.links.items())
            err.print(
                f"{rep.fingerprinted} documents fingerprinted, {rep.vectors} vectors; new links: {links}"
            )
    except ArchiveError as exc:
        _fail(exc)
    finally:
        svc.close()


@families_app.command("show")
def families_show(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """A document's family: the provenance chain (oldest first) and the links."""
    from archive_search.types import LOCAL_ADMIN

    svc = _service()
    try:
        fam = svc.families.family(document_id, LOCAL_ADMIN)
    except ArchiveError as exc:
        _fail(exc)
    finally:
        svc.close()
    if as_json:
        print(json.dumps(fam, ensure_ascii=False))
        return
    print(f"family {fam['family_id']}: {fam['size']} documents")
    for e in fam["provenance"]:
        rel = f" ({e['relation']['kind']} of {e['relation']['to_document_id']})" if e["relation"] else ""
        print(
            f"{e['position']:>3}. document {e['document_id']} {e['filename']} "
            f"[{e['collection']}, {e['lang']}] date {e['date'] or '-'} "
            f"ingested {e['ingested_at']} by {e['added_by'] or '-'}{rel}"
        )
    for link in fam["links"]:
        pair = f"{link['document_a']}–{link['document_b']}"
        print(f"link {link['id']}: {pair} {link['kind']} {link['score']} {link['status']}")


# -- structured metadata (issue 18, part 4) -----------------------------------------------------

metadata_app = typer.Typer(
    no_args_is_help=True, help="Typed metadata fields per collection and their values."
)
app.add_typer(metadata_app, name="metadata")


@metadata_app.command("fields")
def metadata_fields(collection: Annotated[str, typer.Argument(help="Collection")]) -> None:
    """The metadata fields of a collection."""

    def run(svc: Any) -> None:
        for f in svc.metadata.list_fields(collection, LOCAL_ADMIN):
            extra = f" options={','.join(f.options)}" if f.options else ""
            extra += f" entity={f.entity_type}" if f.entity_type else ""
            extra += " multiple" if f.multiple else ""
            print(f"{f.name}\t{f.type}\t{terminal_safe(f.label)}{terminal_safe(extra)}")

    _accounts_call(run)


@metadata_app.command("add-field")
def metadata_add_field(
    collection: Annotated[str, typer.Argument(help="Collection")],
    name: Annotated[str, typer.Argument(help="Machine name (a-z, 0-9, _): meta=NAME=VALUE, meta.NAME")],
    type_: Annotated[str, typer.Option("--type", help="text, date, number, select or entity")],
    label: Annotated[str | None, typer.Option("--label", help="What people see (default: the name)")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", help="A select field's option")] = None,
    entity_type: Annotated[str | None, typer.Option("--entity-type", help="person, place or org")] = None,
    multiple: Annotated[bool, typer.Option("--multiple", help="Several values per document")] = False,
) -> None:
    """Define a typed metadata field for a collection (audited)."""
    from pydantic import TypeAdapter, ValidationError

    from search_api.metadata import FieldCreate

    raw: dict[str, Any] = {"name": name, "label": label or name, "type": type_}
    if type_ == "select":
        raw.update(options=option or [], multiple=multiple)
    elif type_ == "entity":
        raw.update(entity_type=entity_type, multiple=multiple)
    try:
        body = TypeAdapter(FieldCreate).validate_python(raw)
    except ValidationError as exc:
        _fail(InvalidRequestError("; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors())))
        return
    _accounts_call(
        lambda svc: print(svc.metadata.create_field(collection, body, LOCAL_ADMIN).model_dump_json())
    )


@metadata_app.command("edit-field")
def metadata_edit_field(
    collection: Annotated[str, typer.Argument(help="Collection")],
    name: Annotated[str, typer.Argument(help="Field name")],
    label: Annotated[str | None, typer.Option("--label", help="New label")] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="New description ('' removes it)")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option("--option", help="A select field's options, the whole new list in order (repeat)"),
    ] = None,
    required: Annotated[
        bool | None, typer.Option("--required/--optional", help="A value may be changed but not cleared")
    ] = None,
    multiple: Annotated[
        bool | None, typer.Option("--multiple/--single", help="Several values per document (select, entity)")
    ] = None,
) -> None:
    """Change a field's definition (audited): label, description, options, required, multiple. The
    type and the name cannot change; an option documents hold cannot be removed."""
    from pydantic import ValidationError

    from search_api.metadata import FieldUpdate

    try:
        body = FieldUpdate(
            label=label,
            description=description,
            options=option or None,
            required=required,
            multiple=multiple,
            type=None,
        )
    except ValidationError as exc:
        _fail(InvalidRequestError("; ".join(f"{e['loc']}: {e['msg']}" for e in exc.errors())))
        return
    _accounts_call(
        lambda svc: print(svc.metadata.update_field(collection, name, body, LOCAL_ADMIN).model_dump_json())
    )


@metadata_app.command("delete-field")
def metadata_delete_field(
    collection: Annotated[str, typer.Argument(help="Collection")],
    name: Annotated[str, typer.Argument(help="Field name")],
) -> None:
    """Delete a field and every value of it (audited; the index follows)."""
    _accounts_call(
        lambda svc: print(f"{svc.metadata.delete_field(collection, name, LOCAL_ADMIN)} passages re-indexed")
    )


@metadata_app.command("show")
def metadata_show(document_id: Annotated[int, typer.Argument(help="Document id")]) -> None:
    """A document's metadata fields and values."""

    def run(svc: Any) -> None:
        for f in svc.metadata.get(document_id, LOCAL_ADMIN).fields:
            print(f"{f.name}\t{terminal_safe('; '.join(v.display for v in f.values))}")

    _accounts_call(run)


@metadata_app.command("set")
def metadata_set(
    document_id: Annotated[int, typer.Argument(help="Document id")],
    values: Annotated[
        list[str], typer.Argument(help="NAME=VALUE (repeat a name for several values; NAME= clears)")
    ],
) -> None:
    """Set metadata values of a document (audited; the index follows)."""
    from search_api.metadata import MetadataSet

    given: dict[str, list[str]] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep:
            _fail(InvalidRequestError(f"expected NAME=VALUE, got {item!r}"))
        given.setdefault(name.strip(), [])
        if value.strip():
            given[name.strip()].append(value)
    body = MetadataSet(values={k: (v[0] if len(v) == 1 else v) for k, v in given.items()})  # type: ignore[misc]

    def run(svc: Any) -> None:
        for f in svc.metadata.set_values(document_id, body, LOCAL_ADMIN).fields:
            print(f"{f.name}\t{terminal_safe('; '.join(v.display for v in f.values))}")

    _accounts_call(run)


def main() -> None:
    try:
        app()
    except ArchiveError as exc:  # pragma: no cover - commands handle their own
        err.print(f"error ({exc.code}): {shown(exc.message)}")
        sys.exit(2)
