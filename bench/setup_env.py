"""What every benchmark does before importing Django: a temporary folder, the settings a
benchmark runs with (SQLite in that folder unless DATABASE_URL is set, the sandbox on, warnings
only), then `django.setup()`. Import it first: `WORKDIR = setup_env.configure("sync")`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def configure(name: str, **extra: str) -> Path:
    """Set the environment (`extra` overrides defaults, the caller's environment wins over
    both), set Django up, and return the benchmark's temporary folder."""
    sys.path.insert(0, str(REPO_ROOT))
    workdir = Path(tempfile.mkdtemp(prefix=f"dcvaas-bench-{name}-"))
    defaults = {
        "DJANGO_SETTINGS_MODULE": "dcvaas.settings",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "SANDBOX": "true",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "CELERY_DATA_DIR": str(workdir / "celery"),
        **extra,
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    return workdir


def start_simulator(cls: type[Any] | None = None) -> Any:
    """A Cloudflare simulator serving on loopback (every step immediate, its own per-token
    limit out of the way: the set-up's requests are not what is measured; our shared budget
    still applies), with Django's settings pointed at it. `cls`: a subclass to use."""
    from django.conf import settings

    from sandbox.cloudflare import CloudflareSandbox, Delays

    sim = (cls or CloudflareSandbox)(
        zone_id="0123456789abcdef0123456789abcdef",
        token="bench-token",  # noqa: S106 - the simulator's own token
        cname_target=settings.DCV_CNAME_TARGET,
        delays=Delays(records=0.0, issuance=0.0, deployment=0.0, dns_cache=0.0),
    )
    sim.serve()
    sim.configure(rate_limit=10**9)
    settings.CLOUDFLARE_API_BASE = sim.base_url
    settings.CLOUDFLARE_API_TOKEN = sim.token
    settings.CLOUDFLARE_ZONE_ID = sim.zone_id
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return sim


def serve_app(wrap: Any = None) -> str:
    """The Django app behind a threaded WSGI server on loopback (requests logged nowhere, each
    request's database connection closed after it); returns its base URL. `wrap`, if given,
    is called with the WSGI application and returns the one to serve."""
    import threading
    import warnings
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    from django.db import close_old_connections

    # Static files are not collected for a benchmark, and none is asked for.
    warnings.filterwarnings("ignore", message="No directory at")
    from dcvaas.wsgi import application

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    class ThreadedWSGIServer(WSGIServer):
        daemon_threads = True

        def process_request(self, request: Any, client_address: Any) -> None:
            threading.Thread(
                target=self._serve_one, args=(request, client_address), daemon=True
            ).start()

        def _serve_one(self, request: Any, client_address: Any) -> None:
            try:
                self.finish_request(request, client_address)
            finally:
                self.shutdown_request(request)
                close_old_connections()

    server = make_server(
        "127.0.0.1",
        0,
        wrap(application) if wrap else application,
        server_class=ThreadedWSGIServer,
        handler_class=QuietHandler,
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def ensure_postgres_database(database_url: str) -> None:
    """Create the benchmark's PostgreSQL database when it does not exist yet."""
    from urllib.parse import urlparse

    import psycopg
    from psycopg import sql

    parsed = urlparse(database_url)
    name = parsed.path.lstrip("/")
    try:
        psycopg.connect(database_url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            raise
        maintenance = parsed._replace(path="/postgres").geturl()
        with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


LOCAL_HOSTS = ("", "127.0.0.1", "localhost", "::1")


def _server_processes(names: tuple[str, ...]) -> list[int]:
    """Ids of this machine's processes named one of `names` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone since listed
        if text[text.index("(") + 1 : text.rindex(")")] in names:
            found.append(int(stat.parent.name))
    return found


def local_database_cpu() -> float | None:
    """Seconds of CPU the PostgreSQL server's processes have used, theirs and their reaped
    children's (from /proc: a server on this machine), or None on SQLite (its work is the
    benchmark's own) or a server elsewhere."""
    from django.conf import settings
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    if settings.DATABASES["default"].get("HOST") not in LOCAL_HOSTS:
        return None
    ticks = 0
    for pid in _server_processes(("postgres",)):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), after the name's ")".
        ticks += sum(int(field) for field in text[text.rindex(")") + 2 :].split()[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def local_servers() -> tuple[str, ...]:
    """The process names of the servers this benchmark uses on this machine: PostgreSQL when
    DATABASE_URL names a local one, Redis when REDIS_URL does."""
    from urllib.parse import urlparse

    from django.conf import settings
    from django.db import connection

    names = []
    database_host = settings.DATABASES["default"].get("HOST")
    if connection.vendor == "postgresql" and database_host in LOCAL_HOSTS:
        names.append("postgres")
    redis_url = os.environ.get("REDIS_URL", "")
    if redis_url and (urlparse(redis_url).hostname or "") in LOCAL_HOSTS:
        names.append("redis-server")
    return tuple(names)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class DatabaseOnItsOwnCore:
    """Production's layout on one machine: the database and Redis servers this benchmark uses
    (`local_servers`) get the last core to themselves and the benchmark (with the processes it
    forks) the others, as when the database has a host of its own. Restores every affinity it
    changed on exit.

    On SQLite there is no server to move: the benchmark is confined to the same cores all the
    same, so a SQLite run and a PostgreSQL run give the product the same CPU. Linux only (it
    sets CPU affinity); moving a server needs the right to (its owner, or root)."""

    def __init__(self, servers: tuple[str, ...]) -> None:
        self.servers = servers
        self.saved: dict[int, set[int]] = {}
        self.previous_handler: Any = signal.SIG_DFL
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        if len(cores) < 2:
            raise SystemExit("--database-core needs Linux and at least two cores to split.")
        self.database_core = cores[-1]
        self.benchmark_cores = set(cores[:-1])

    def __enter__(self) -> DatabaseOnItsOwnCore:
        # A run stopped with SIGTERM (`timeout`, `kill`) leaves through __exit__ too.
        self.previous_handler = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        tasks = [
            int(task.name)
            for pid in _server_processes(self.servers)
            for task in Path(f"/proc/{pid}/task").glob("[0-9]*")
        ]
        try:
            for tid in tasks:
                self._pin(tid, {self.database_core})
            # Every thread of this process (a server thread started earlier keeps its own
            # affinity otherwise); threads and processes started later inherit it.
            for task in Path("/proc/self/task").glob("[0-9]*"):
                self._pin(int(task.name), self.benchmark_cores)
        except PermissionError as error:
            self.__exit__()
            raise SystemExit(
                f"--database-core: not allowed to move the database server's processes ({error});"
                " run as the servers' owner or root."
            ) from None
        return self

    def _pin(self, tid: int, cores: set[int]) -> None:
        try:
            self.saved.setdefault(tid, os.sched_getaffinity(tid))
            os.sched_setaffinity(tid, cores)
        except ProcessLookupError:
            pass  # ended since listed

    def __exit__(self, *exc: object) -> None:
        for tid, cores in self.saved.items():
            with contextlib.suppress(ProcessLookupError):  # ended meanwhile
                os.sched_setaffinity(tid, cores)
        self.saved.clear()
        signal.signal(signal.SIGTERM, self.previous_handler)

    def describe(self) -> str:
        listed = ",".join(str(core) for core in sorted(self.benchmark_cores))
        servers = " and ".join(self.servers) or "no server (SQLite: none to move)"
        return (
            f"layout: the benchmark on core(s) {listed}; {servers} on core "
            f"{self.database_core} alone"
            if self.servers
            else f"layout: the benchmark on core(s) {listed}; {servers}"
        )
