"""Throwaway PostgreSQL clusters for tests.

Usage::

    cluster = PostgresCluster()
    url = cluster.start()            # postgresql+psycopg://postgres@127.0.0.1:PORT/archive_test
    other = cluster.create_database("catalog_test")
    ...
    cluster.stop()                   # idempotent

or as a context manager (``with PostgresCluster() as cluster: ...``).

The cluster lives in a fresh temporary directory (data dir, unix socket dir and
server log), listens only on 127.0.0.1 and a unix socket inside that directory,
trusts every local connection and runs with durability switched off, so it is
fast and must never hold data anyone cares about.

PostgreSQL refuses to run as root. When the tests run as root (CI containers),
initdb and pg_ctl run as the ``postgres`` system user (created by the Debian
``postgresql`` package) through ``runuser`` (or ``setpriv`` as a fallback).

This module deliberately needs only the standard library: connecting is the
caller's business (psycopg / SQLAlchemy), and databases are created with the
cluster's own ``createdb`` binary.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["PostgresCluster", "PostgresNotFoundError", "PostgresStartError", "find_bindir"]

SUPERUSER = "postgres"
DEFAULT_DBNAME = "archive_test"
# Database names we are willing to pass on a command line / put in a URL.
_DBNAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
# The server binaries a usable bindir must contain.
_REQUIRED = ("initdb", "pg_ctl", "postgres", "createdb")


class PostgresNotFoundError(RuntimeError):
    """No PostgreSQL server installation was found on this machine."""


class PostgresStartError(RuntimeError):
    """initdb / pg_ctl failed; the message carries the tail of the server log."""


def _is_bindir(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in _REQUIRED)


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> numeric version, so 15 sorts above 9.6.
    try:
        return tuple(int(part) for part in path.parent.name.split("."))
    except ValueError:
        return (-1,)


def find_bindir() -> Path | None:
    """Return the directory holding initdb/pg_ctl, or None if PostgreSQL is not installed.

    Order: $PG_BINDIR, ``pg_config --bindir``, the newest /usr/lib/postgresql/*/bin
    (Debian/Ubuntu layout, where the server binaries are not on PATH), then PATH.
    """
    env_dir = os.environ.get("PG_BINDIR")
    if env_dir and _is_bindir(Path(env_dir)):
        return Path(env_dir)

    pg_config = shutil.which("pg_config")
    if pg_config:
        # On Debian /usr/bin/pg_config may come from libpq-dev alone and name a
        # bindir without a server in it, hence the _is_bindir check.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out and _is_bindir(Path(out)):
                return Path(out)

    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _is_bindir(p)]
    if candidates:
        return max(candidates, key=_version_key)

    initdb = shutil.which("initdb")
    if initdb and _is_bindir(Path(initdb).parent):
        return Path(initdb).parent
    return None


def _free_port() -> int:
    # Ask the kernel for a free port. There is a small race between closing this
    # socket and the server binding it; start() retries with a new port on failure.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _world_searchable(path: Path) -> bool:
    """True if every directory from / down to path is o+x (the postgres user can reach it)."""
    for p in [path, *path.parents]:
        try:
            if not os.stat(p).st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


class PostgresCluster:
    """A private, disposable PostgreSQL server for one test session."""

    def __init__(
        self,
        bindir: str | os.PathLike[str] | None = None,
        *,
        dbname: str = DEFAULT_DBNAME,
        start_timeout: int = 60,
    ) -> None:
        if not _DBNAME_RE.match(dbname):
            raise ValueError(f"invalid database name: {dbname!r}")
        self._bindir_arg = Path(bindir) if bindir is not None else None
        self.dbname = dbname
        self.start_timeout = start_timeout
        self.bindir: Path | None = None
        self.port: int | None = None
        self.tmpdir: Path | None = None
        self._run_as: list[str] = []  # command prefix that switches to the postgres user
        self._owner: tuple[int, int] | None = None  # uid/gid to chown the tmpdir to
        self._running = False

    # ------------------------------------------------------------------ paths
    @property
    def datadir(self) -> Path:
        return self._require_tmpdir() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._require_tmpdir() / "sock"

    @property
    def logfile(self) -> Path:
        return self._require_tmpdir() / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    @property
    def url(self) -> str:
        return self.url_for(self.dbname)

    def url_for(self, dbname: str) -> str:
        if self.port is None:
            raise RuntimeError("cluster is not started")
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _require_tmpdir(self) -> Path:
        if self.tmpdir is None:
            raise RuntimeError("cluster is not started")
        return self.tmpdir

    # -------------------------------------------------------------- lifecycle
    def start(self) -> str:
        """Create and start the cluster, create the default database, return its URL."""
        if self._running:
            return self.url

        bindir = self._bindir_arg or find_bindir()
        if bindir is None or not _is_bindir(bindir):
            raise PostgresNotFoundError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found. Install the "
                "'postgresql' package (scripts/setup.sh does) or set PG_BINDIR."
            )
        self.bindir = bindir
        self._setup_user()

        try:
            self._make_tmpdir()
            self._initdb()
            last_error: PostgresStartError | None = None
            for _attempt in range(3):
                self.port = _free_port()
                try:
                    self._pg_ctl_start()
                    break
                except PostgresStartError as exc:  # most likely lost the port race
                    last_error = exc
                    self.port = None
            else:
                assert last_error is not None
                raise last_error
            self._running = True
            atexit.register(self.stop)  # don't leak servers if a test run aborts
            self.create_database(self.dbname)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete everything. Safe to call twice."""
        tmpdir, self.tmpdir = self.tmpdir, None
        if tmpdir is None:
            return
        try:
            # Also when start() failed half-way (e.g. pg_ctl -w timed out but the
            # postmaster came up later): a postmaster.pid means there may be a server.
            if self.bindir is not None and (self._running or (tmpdir / "data" / "postmaster.pid").exists()):
                # -m immediate: no checkpoint, the data is thrown away anyway.
                subprocess.run(
                    [
                        *self._run_as,
                        str(self.bindir / "pg_ctl"),
                        "stop",
                        "-D",
                        str(tmpdir / "data"),
                        "-m",
                        "immediate",
                        "-w",
                        "-t",
                        "30",
                    ],
                    cwd=tmpdir,
                    env=self._env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    check=False,
                    timeout=60,
                )
        finally:
            self._running = False
            self.port = None
            with contextlib.suppress(Exception):
                atexit.unregister(self.stop)
            shutil.rmtree(tmpdir, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -------------------------------------------------------------- databases
    def create_database(self, name: str) -> str:
        """Create an empty database ``name`` (UTF8) and return its SQLAlchemy URL."""
        self._check_running()
        if not _DBNAME_RE.match(name):
            raise ValueError(f"invalid database name: {name!r}")
        self._client("createdb", "-E", "UTF8", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (terminating its connections); no error if it is absent."""
        self._check_running()
        if not _DBNAME_RE.match(name):
            raise ValueError(f"invalid database name: {name!r}")
        self._client("dropdb", "--if-exists", "--force", name)

    # ---------------------------------------------------------------- helpers
    def _check_running(self) -> None:
        if not self._running or self.port is None:
            raise RuntimeError("cluster is not started")

    def _setup_user(self) -> None:
        if os.geteuid() != 0:
            self._run_as, self._owner = [], None
            return
        try:
            pw = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise PostgresNotFoundError(
                "running as root, but there is no 'postgres' system user to run the "
                "server as (PostgreSQL refuses to run as root); install the Debian "
                "'postgresql' package or run the tests as a normal user"
            ) from None
        self._owner = (pw.pw_uid, pw.pw_gid)
        candidates = [
            ["runuser", "-u", SUPERUSER, "--"],
            # setpriv needs no PAM session, for minimal containers where runuser can't open one.
            ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--init-groups", "--"],
        ]
        for prefix in candidates:
            if not shutil.which(prefix[0]):
                continue
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                probe = subprocess.run(
                    [*prefix, "id", "-u"], capture_output=True, text=True, timeout=30, check=False
                )
                if probe.returncode == 0 and probe.stdout.strip() == str(pw.pw_uid):
                    self._run_as = prefix
                    return
        raise PostgresNotFoundError(
            f"running as root, but could not run commands as the '{SUPERUSER}' user "
            "with runuser or setpriv (PostgreSQL refuses to run as root)"
        )

    def _make_tmpdir(self) -> None:
        base: str | None = None
        if self._owner is not None and not _world_searchable(Path(tempfile.gettempdir())):
            # The postgres user must be able to reach the directory; $TMPDIR may
            # be private to root (e.g. under /root), /tmp never is.
            base = "/tmp"
        tmp = Path(tempfile.mkdtemp(prefix="pgcluster-", dir=base))
        # Unix socket paths are limited to ~107 bytes; fall back to /tmp if $TMPDIR is long.
        if len(str(tmp / "sock" / ".s.PGSQL.65535")) > 100:
            shutil.rmtree(tmp)
            tmp = Path(tempfile.mkdtemp(prefix="pgc-", dir="/tmp"))
        self.tmpdir = tmp
        (tmp / "sock").mkdir(mode=0o700)
        if self._owner is not None:
            for p in (tmp, tmp / "sock"):
                os.chown(p, *self._owner)

    def _env(self) -> dict[str, str]:
        # Drop PG* variables from the caller's environment (PGDATA, PGPORT, PGOPTIONS,
        # PGHOST...) so they can't redirect our commands to another server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C.UTF-8"
        env["LANG"] = "C.UTF-8"
        return env

    def _run(self, argv: Sequence[str], what: str, *, as_owner: bool = True) -> None:
        tmpdir = self._require_tmpdir()
        prefix = self._run_as if as_owner else []
        try:
            proc = subprocess.run(
                [*prefix, *argv],
                cwd=tmpdir,  # the postgres user can't chdir into e.g. /root
                env=self._env(),
                capture_output=True,
                text=True,
                check=False,
                timeout=self.start_timeout + 30,
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresStartError(f"{what} timed out\n{self._log_tail()}") from exc
        if proc.returncode != 0:
            raise PostgresStartError(
                f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n"
                f"--- stdout ---\n{proc.stdout[-2000:]}\n--- stderr ---\n{proc.stderr[-2000:]}\n"
                f"{self._log_tail()}"
            )

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except (OSError, RuntimeError):
            return ""
        return "--- server log (tail) ---\n" + "\n".join(lines[-30:])

    def _initdb(self) -> None:
        assert self.bindir is not None
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                # C.UTF-8: byte-order collation (deterministic, no ICU/glibc surprises)
                # but a UTF-8 ctype, so lower()/ILIKE work on Cyrillic text.
                "--locale=C.UTF-8",
                "--no-sync",  # skip fsync of the freshly written files: much faster
                "--no-instructions",
            ],
            "initdb",
        )
        # Settings go into postgresql.conf rather than pg_ctl -o "...", which is
        # word-split by a shell and would break on paths with spaces.
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            # Throwaway data: trade durability for speed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "'32MB'",
            "max_connections": "100",
            "logging_collector": "off",
        }
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as f:
            f.write("\n# added by tests/pgcluster.py\n")
            for key, value in settings.items():
                f.write(f"{key} = {value}\n")

    def _pg_ctl_start(self) -> None:
        assert self.bindir is not None and self.port is not None
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "start",
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",  # wait until the server accepts connections
                "-t",
                str(self.start_timeout),
                "-o",
                f"-p {self.port}",  # the only per-attempt setting; a plain number, no quoting issues
            ],
            "pg_ctl start",
        )

    def _client(self, tool: str, *args: str) -> None:
        assert self.bindir is not None and self.port is not None
        # Client tools connect over TCP with trust auth, so they don't need the
        # postgres OS user.
        self._run(
            [str(self.bindir / tool), "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, *args],
            tool,
            as_owner=False,
        )
