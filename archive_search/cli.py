"""The ``archive`` command line (contracts in docs/architecture.md)."""

from __future__ import annotations

import ipaddress
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from archive_search.errors import ArchiveError
from archive_search.search_api.safe_text import terminal_safe
from archive_search.settings import Settings, get_settings
from archive_search.types import LOCAL_ADMIN, FileReport, SearchMode, SearchRequest

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Archive search: ingest, search, serve.")
err = Console(stderr=True, soft_wrap=True)  # no line breaks of its own inside a file name


def shown(value: object) -> str:
    """Text from uploads or users for ``err.print``: control characters escaped, Rich markup inert."""
    from rich.markup import escape

    return escape(terminal_safe(str(value)))


SEARCH_MODES: dict[str, SearchMode] = {"hybrid": "hybrid", "keyword": "keyword", "semantic": "semantic"}


def _service(settings: Settings | None = None) -> Any:
    from archive_search.search_api.service import ArchiveService

    return ArchiveService(settings or get_settings())


def _fail(exc: ArchiveError) -> None:
    err.print(f"[red]error[/red] ({exc.code}): {shown(exc.message)}")
    raise typer.Exit(2)


def _progress() -> Progress:
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
    from archive_search.ingest.pipeline import iter_files

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
    from archive_search.ingest.pipeline import iter_files

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
    print(f"files:       {f['ok']} ok, {f['failed']} failed, {f['skipped']} skipped")
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
) -> None:
    """Search the archive (one query, or a JSONL file of queries with --queries)."""
    if mode not in SEARCH_MODES:
        err.print("--mode must be hybrid, keyword or semantic")
        raise typer.Exit(2)
    if (query is None) == (queries is None):
        err.print("give either a QUERY or --queries FILE")
        raise typer.Exit(2)
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
            return svc.search(req, LOCAL_ADMIN)

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
        print(f"{res.total} matches ({res.mode}, {res.took_ms} ms)")
        for h in res.hits:
            where = f"p.{h.page}" if h.page else (f"{h.time_start:.0f}s" if h.time_start is not None else "")
            name, col = terminal_safe(h.filename), terminal_safe(h.collection)
            print(f"- [{col}] {name} {where} ({h.lang}) score={h.score:.4f}")
            print(f"  {terminal_safe(h.snippet)}")
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
    from archive_search.ingest.worker import run_worker

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


@app.command()
def check(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Re-hash every original against the catalog and check the catalog's integrity; exit 1 on
    any problem."""
    from archive_search.catalog.maintenance import check as run_check

    svc = _service()
    try:
        with _progress() as bar:
            task = bar.add_task("check", total=None)
            report = run_check(svc.catalog, svc.store, lambda d, t: bar.update(task, completed=d, total=t))
    finally:
        svc.close()
    if as_json:
        print(json.dumps({"ok": report.ok, **report.__dict__}))
    else:
        print(
            f"originals: {report.originals} checked, {len(report.missing)} missing, "
            f"{len(report.mismatched)} not matching their SHA-256"
        )
        print(f"catalog integrity: {report.integrity}")
        for sha in report.missing:
            print(f"missing: {sha}")
        for sha in report.mismatched:
            print(f"changed: {sha}")
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


audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")
app.add_typer(audit_app, name="audit")


@app.command("verify-bundle")
def verify_bundle(
    path: Annotated[Path, typer.Argument(help="A case export (ZIP) or the folder it was unpacked into")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-check every SHA-256 of an evidence bundle; exit 1 naming each file that is wrong."""
    from archive_search.search_api.export import verify_bundle as check

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
    from archive_search.search_api.audit import AuditLog

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
    from archive_search.search_api.audit import AuditLog, entry_public

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


def main() -> None:
    try:
        app()
    except ArchiveError as exc:  # pragma: no cover - commands handle their own
        err.print(f"error ({exc.code}): {shown(exc.message)}")
        sys.exit(2)
