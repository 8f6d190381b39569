"""What every benchmark does before importing Django: a temporary folder, the settings a
benchmark runs with (SQLite in that folder unless DATABASE_URL is set, the sandbox on, warnings
only), then `django.setup()`. Import it first: `WORKDIR = setup_env.configure("sync")`."""

from __future__ import annotations

import os
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
