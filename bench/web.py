"""Web benchmark: the dashboard, the domain page, its status fragment and the API under load.

One command from a fresh clone (after `make install`):

    .venv/bin/python bench/web.py                      # SQLite file DB in a temp dir
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dcvaas_webbench .venv/bin/python bench/web.py

What it does: migrates a database (PostgreSQL when DATABASE_URL is set, the database is created
if missing; else a SQLite file in a temp dir), collects static files into a temp STATIC_ROOT
(production's manifest storage needs the manifest), seeds one organization with 50 domains
and one with 5,000 (mixed statuses, DNS records, history), creates a signed-in session and an
API token for a member of each, starts gunicorn on 127.0.0.1 with production settings
(DEBUG=false, plus the baseline view and the query-count header from bench/) and drives a
fixed number of requests per endpoint from a pool of keep-alive clients.
Only loopback is contacted; every run is bounded in count and time.

It prints, per endpoint and per organization size: requests per second, p50 and p99 latency,
the p50 time spent inside Django (the server's X-Server-Ms header: the rest of a latency is the
network, gunicorn and the client's own work) and SQL queries per request (the server's
X-DB-Queries header). Nothing is cached: every request reads the database as it is, so these
are the figures of a page as a user meets it after a change. A bare hello-world view served by
the same server is printed as a reference line, and the staff admin's domain and event
changelists over every seeded domain as well. Then PASS/FAIL lines for the one goal: the same
query count per request whatever the number of domains. Exit status 0 unless the run itself
broke (a goal missed is reported, not raised: figures depend on the machine). Requests are
sent in rounds, each covering the baseline and every endpoint, so that a machine whose speed
drifts during the run weighs on all of them alike.

Flags:
    --requests N      measured requests per endpoint and size (default 300)
    --concurrency N   client threads, each with its own keep-alive session (default 4)
    --workers N       gunicorn worker processes (default 2 x cores + 1, gunicorn's advice)
    --threads N       threads per worker process (default 1)
    --rounds N        rounds over all endpoints, each with a share of the requests (default 5)
    --sizes A,B       domains in the small and the large organization (default 50,5000)
    --max-seconds S   time limit of one endpoint's run; it stops early past it (default 60)
    --compare REF     also serve REF (a commit of this repository, checked out in a temp git
                      worktree, with a database of its own seeded with the same data) and
                      drive both in shuffled rounds; prints per endpoint the p50 ratio
                      current / REF. Releases that cached whole pages run with that cache off.
    --smoke           tiny sizes and a few requests: checks that everything runs

Each server is set up by a process of its own that runs the served checkout's code (migrate,
collectstatic, seed); the parent only drives HTTP.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import requests

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "hello (reference)"
BENCH_SLUG_PREFIX = "webbench-"
# Statuses of a real staff-size list: mostly active, some waiting, a few in trouble.
STATUS_WEIGHTS = {
    "active": 70,
    "pending": 15,
    "failed": 8,
    "registering": 4,
    "deleting": 3,
}


# ---------------------------------------------------------------------------------------------
# Environment: the server's settings, and this process's (it seeds the same database)
# ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(
    workdir: Path, database_url: str, port: int, tree: Path = ROOT
) -> dict[str, str]:
    """Production settings for loopback HTTP: the differences are explained one by one.
    `workdir`: the server's own folder (settings module, static files, SQLite file); `tree`:
    the checkout whose code it serves."""
    environment = {
        key: value
        for key, value in os.environ.items()
        # Nothing from the caller's .env-style setup may switch the server to real vendors.
        if not key.startswith(("CLOUDFLARE_", "STRIPE_", "GITHUB_"))
    }
    environment.update(
        {
            # The temp settings module (STATIC_ROOT in the temp dir) is found on this path.
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "PYTHONPATH": os.pathsep.join([str(workdir), str(tree)]),
            "DEBUG": "false",
            "SECRET_KEY": "webbench-" + os.urandom(24).hex(),
            "ALLOWED_HOSTS": "127.0.0.1",
            # Plain HTTP on loopback: no redirect to https (the session cookie stays Secure;
            # the clients send it themselves).
            "SECURE_SSL_REDIRECT": "false",
            # Sign-in and Cloudflare need no credentials; GETs never call the simulators.
            "SANDBOX": "true",
            "SANDBOX_STATE_DIR": str(workdir / "sandbox"),
            "CELERY_DATA_DIR": str(workdir / "celery"),
            # The throttle still runs (its cache round trips are part of each request), but
            # with a rate the benchmark cannot reach.
            "API_THROTTLE_RATE": "1000000/min",
            # Releases before 72e4e09 cached whole lists (accounts/caching.py); 0 turns that
            # off, so an older release compared with `--compare` is measured uncached too.
            "ORGANIZATION_CACHE_SECONDS": "0",
            "LOG_LEVEL": "WARNING",
            "BENCH_WEB_PORT": str(port),
        }
    )
    if database_url:
        environment["DATABASE_URL"] = database_url
    else:
        environment.pop("DATABASE_URL", None)
        environment["SQLITE_PATH"] = str(workdir / "bench.sqlite3")
    return environment


SETTINGS_MODULE = '''"""Written by bench/web.py: production settings, static files in a temp
dir, plus the benchmark's baseline view and its X-DB-Queries / X-Server-Ms middleware
(copied from bench/instrument.py beside this file, so that any checkout can be served with
them), first so that every other middleware's queries are counted."""
from dcvaas.settings import *  # noqa: F403

STATIC_ROOT = {static_root!r}
ROOT_URLCONF = "webbench_urls"
MIDDLEWARE = ["webbench_instrument.BenchmarkMiddleware", *MIDDLEWARE]  # noqa: F405
'''

URLS_MODULE = '''"""Written by bench/web.py: the product's URLs, plus the bare baseline view."""
from django.urls import path

from dcvaas.urls import urlpatterns as product_urlpatterns
from webbench_instrument import hello

urlpatterns = [path("bench/hello/", hello, name="bench-hello"), *product_urlpatterns]
'''


def write_server_modules(workdir: Path) -> None:
    """The settings, URL and instrument modules the server in `workdir` imports first."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "bench_settings.py").write_text(
        SETTINGS_MODULE.format(static_root=str(workdir / "static"))
    )
    (workdir / "webbench_urls.py").write_text(URLS_MODULE)
    shutil.copyfile(ROOT / "bench" / "instrument.py", workdir / "webbench_instrument.py")


def prepare_database() -> None:
    """Migrate, create the cache table and collect static files, as the release step does
    (in the seeding process, whose environment is the server's)."""
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres"):
        # Run as a script here (the seeding process): bench/ is on the path.
        from setup_env import ensure_postgres_database

        ensure_postgres_database(database_url)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)


# ---------------------------------------------------------------------------------------------
# Seed data
# ---------------------------------------------------------------------------------------------
@dataclass
class Tenant:
    """One seeded organization and the credentials and ids the clients use."""

    label: str  # "50 domains"
    size: int
    organization_id: int
    session_key: str
    token: str
    domain_id: str  # a pending domain: its page polls the status fragment


def _remote_for(hostname: str, status: str, rng: random.Random) -> Any:
    from domains.cloudflare import CustomHostname, TxtRecord

    pending = status in ("pending", "registering")
    return CustomHostname(
        id="",
        hostname=hostname,
        status={"active": "active", "failed": "moved"}.get(status, "pending"),
        ssl_status="active" if status == "active" else "pending_validation",
        ssl_method="http",
        verification_errors=(),
        ownership_txt=(
            TxtRecord(name=f"_cf-custom-hostname.{hostname}", value=f"{rng.getrandbits(128):032x}")
            if pending
            else None
        ),
        ownership_http=None,
        validation_txt=(
            (TxtRecord(name=f"_acme-challenge.{hostname}", value=f"{rng.getrandbits(128):x}"),)
            if pending
            else ()
        ),
        validation_http=(),
        validation_cname=(),
        validation_errors=(),
        certificate_issuer="Google Trust Services" if status == "active" else None,
        certificate_expires_at=None,
        created_at=None,
    )


def seed_tenant(size: int, rng: random.Random) -> Tenant:
    """An organization with `size` domains (bulk-created), a member's session and a token."""
    from django.utils import timezone

    from accounts.models import Membership, Organization, Role, User
    from accounts.services import api_token_create
    from domains.models import Domain, DomainEvent, DomainEventKind
    from domains.services import records_for

    slug = f"{BENCH_SLUG_PREFIX}{size}-{rng.getrandbits(32):08x}"
    organization = Organization.objects.create(name=f"Bench {size}", slug=slug)
    user = User.objects.create(username=slug, email=f"{slug}@bench.example")
    user.set_unusable_password()
    user.current_organization = organization
    user.save()
    Membership.objects.create(user=user, organization=organization, role=Role.MEMBER)

    now = timezone.now()
    statuses = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=size)
    if size:
        statuses[0] = "pending"  # the domain whose page and status fragment are requested
    domains = []
    for index, status in enumerate(statuses):
        hostname = f"app{index:05d}.client{index % 997:03d}.{slug}.example"
        created = now - timedelta(days=rng.randint(0, 700), seconds=rng.randint(0, 86_400))
        active = status == "active"
        domains.append(
            Domain(
                organization=organization,
                hostname=hostname,
                status=status,
                cloudflare_id=f"{slug}-{index}" if status != "registering" else "",
                cloudflare_status={"active": "active", "failed": "moved"}.get(status, "pending"),
                ssl_status="active" if active else "pending_validation",
                verification_errors=(
                    ["custom hostname does not CNAME to this zone."] if status == "failed" else []
                ),
                dns_records=records_for(hostname, _remote_for(hostname, status, rng)),
                certificate_issuer="Google Trust Services" if active else "",
                certificate_expires_at=now + timedelta(days=rng.randint(1, 90)) if active else None,
                activated_at=created + timedelta(minutes=5) if active else None,
                last_synced_at=now - timedelta(minutes=rng.randint(0, 600)),
                next_sync_at=now + timedelta(minutes=rng.randint(1, 600)),
                last_error="Cloudflare timed out." if status == "deleting" else "",
            )
        )
    Domain.objects.bulk_create(domains, batch_size=500)
    events = []
    for domain in domains:
        for kind in (DomainEventKind.CREATED, DomainEventKind.REGISTERED)[: rng.randint(1, 2)]:
            events.append(
                DomainEvent(
                    domain=domain,
                    organization=organization,
                    hostname=domain.hostname,
                    kind=kind,
                    to_status=domain.status if kind == DomainEventKind.REGISTERED else "",
                )
            )
    DomainEvent.objects.bulk_create(events, batch_size=1000)

    _token, raw = api_token_create(organization=organization, created_by=user, name="webbench")
    return Tenant(
        label=f"{size} domains",
        size=size,
        organization_id=organization.pk,
        session_key=signed_in_session(user),
        token=raw,
        domain_id=str(domains[0].pk) if domains else "",
    )


def signed_in_session(user: Any) -> str:
    """The key of a session signed in as `user`, as the sign-in view would leave it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key or ""


def seed_staff() -> str:
    """A staff superuser's signed-in session: the admin's changelists."""
    from accounts.models import User

    user = User.objects.create(username=f"{BENCH_SLUG_PREFIX}staff", is_staff=True)
    user.is_superuser = True
    user.set_unusable_password()
    user.save()
    return signed_in_session(user)


def remove_seed() -> None:
    """Delete every organization (and user) a benchmark seeded; domains go with them."""
    from accounts.models import Organization, User

    Organization.objects.filter(slug__startswith=BENCH_SLUG_PREFIX).delete()
    User.objects.filter(username__startswith=BENCH_SLUG_PREFIX).delete()


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def gunicorn(
    environment: dict[str, str],
    port: int,
    workers: int,
    threads: int,
    log: Path,
    *,
    cwd: Path = ROOT,
) -> Iterator[str]:
    """gunicorn serving dcvaas.wsgi on 127.0.0.1:port, stopped (and waited for) on exit."""
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "dcvaas.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        # gthread keeps client connections alive, as a production proxy's upstream pool does.
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(requests.RequestException):
                    if requests.get(base + "/bench/hello/", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer in 30 s:\n{log.read_text()}")
                time.sleep(0.1)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


# ---------------------------------------------------------------------------------------------
# The load
# ---------------------------------------------------------------------------------------------
@dataclass
class Endpoint:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    ok: tuple[int, ...] = (200,)


@dataclass
class Result:
    endpoint: str
    tenant: str
    latencies: list[float]
    queries: list[int]
    errors: Counter[str]
    seconds: float
    server: list[float] = field(default_factory=list)  # time in Django (X-Server-Ms)

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, q: float, *, server: bool = False) -> float:
        ordered = sorted(self.server if server else self.latencies)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    @property
    def query_mode(self) -> int | None:
        return Counter(self.queries).most_common(1)[0][0] if self.queries else None

    @property
    def query_text(self) -> str:
        if not self.queries:
            return "-"
        low, high, mode = min(self.queries), max(self.queries), self.query_mode
        return str(mode) if low == high else f"{mode} ({low}-{high})"


def merge(parts: list[Result]) -> Result:
    """One endpoint's rounds as one result."""
    errors: Counter[str] = Counter()
    for part in parts:
        errors.update(part.errors)
    return Result(
        parts[0].endpoint,
        parts[0].tenant,
        [latency for part in parts for latency in part.latencies],
        [count for part in parts for count in part.queries],
        errors,
        sum(part.seconds for part in parts),
        [moment for part in parts for moment in part.server],
    )


def browser_headers(session_key: str) -> dict[str, str]:
    # What a browser sends after its first page: the session and the CSRF cookie (any 32
    # letters and digits make a valid one). Without the latter, every page would mint a new
    # CSRF secret and set its cookie, work no real visitor's second request causes.
    csrf = "webbench" + session_key[:24].ljust(24, "0")
    return {"Cookie": f"sessionid={session_key}; csrftoken={csrf}"}


def admin_endpoints(staff_session: str, admin_url: str) -> list[Endpoint]:
    """The staff admin's busiest changelists, over every tenant's rows."""
    session = browser_headers(staff_session)
    admin = "/" + admin_url
    return [
        Endpoint("admin: domains", f"{admin}domains/domain/", session),
        Endpoint(
            "admin: domains, filtered", f"{admin}domains/domain/?status__exact=active", session
        ),
        Endpoint("admin: events", f"{admin}domains/domainevent/", session),
    ]


def poll_query(base: str, tenant: Tenant) -> str:
    """What the domain page's polling block sends with each poll (its `hx-vals`: what the page
    shows, so the server can tell what changed), read from the page as a browser would; "" if
    the page sends nothing (a release before polls carried it)."""
    page = requests.get(
        f"{base}/domains/{tenant.domain_id}/",
        headers=browser_headers(tenant.session_key),
        timeout=30,
    ).text
    found = re.search(r'id="status-poll"[^>]*?hx-vals=\'([^\']*)\'', page)
    return "?" + urlencode(json.loads(html.unescape(found.group(1)))) if found else ""


def endpoints(tenant: Tenant, poll: str = "") -> list[Endpoint]:
    """`poll`: the status fragment's query, as the page's polling block sends it."""
    session = browser_headers(tenant.session_key)
    token = {"Authorization": f"Bearer {tenant.token}"}
    return [
        Endpoint("dashboard list", "/dashboard/", session),
        Endpoint("domain page", f"/domains/{tenant.domain_id}/", session),
        Endpoint(
            "status fragment",
            f"/domains/{tenant.domain_id}/status/{poll}",
            {**session, "HX-Request": "true"},
            ok=(200, 286),
        ),
        Endpoint("GET /api/v1/domains", "/api/v1/domains", token),
        Endpoint("GET /api/v1/domains/{id}", f"/api/v1/domains/{tenant.domain_id}", token),
    ]


def drive(
    base: str,
    endpoint: Endpoint,
    tenant: str,
    *,
    requests_count: int,
    concurrency: int,
    max_seconds: float,
) -> Result:
    """`requests_count` GETs from `concurrency` keep-alive clients, after a short warm-up."""
    local = threading.local()
    deadline_holder: list[float] = []

    def one(_: int) -> tuple[float, int, float, str] | None:
        if deadline_holder and time.monotonic() > deadline_holder[0]:
            return None
        client = getattr(local, "session", None)
        if client is None:
            client = local.session = requests.Session()
            client.headers.update(endpoint.headers)
        started = time.perf_counter()
        try:
            response = client.get(base + endpoint.path, timeout=30, allow_redirects=False)
        except requests.RequestException as error:
            return time.perf_counter() - started, -1, math.nan, type(error).__name__
        elapsed = time.perf_counter() - started
        problem = "" if response.status_code in endpoint.ok else f"HTTP {response.status_code}"
        queries = int(response.headers.get("X-DB-Queries", "-1"))
        server = float(response.headers.get("X-Server-Ms", "nan")) / 1000
        return elapsed, queries, server, problem

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        # Warm-up: every worker process imports templates and opens its connection once.
        list(pool.map(one, range(concurrency * 4)))
        deadline_holder.append(time.monotonic() + max_seconds)
        started = time.perf_counter()
        outcomes = list(pool.map(one, range(requests_count)))
        seconds = time.perf_counter() - started
    latencies, queries, server, errors = [], [], [], Counter[str]()
    for outcome in outcomes:
        if outcome is None:
            errors["stopped at the time limit"] += 1
            continue
        elapsed, count, in_django, problem = outcome
        if problem:
            errors[problem] += 1
            continue
        latencies.append(elapsed)
        if not math.isnan(in_django):
            server.append(in_django)
        if count >= 0:
            queries.append(count)
    return Result(endpoint.name, tenant, latencies, queries, errors, seconds, server)


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
def report(results: list[Result], small: str, large: str) -> list[str]:
    """The figures table and the goal lines; returns the goal lines (also printed)."""
    header = (
        f"{'endpoint':<26} {'org':>13} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'django p50':>10} {'queries/req':>12}  errors"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        errors = ", ".join(f"{n}x {what}" for what, n in result.errors.items()) or "-"
        print(
            f"{result.endpoint:<26} {result.tenant:>13} {result.rps:>8.1f} "
            f"{result.percentile(0.5) * 1000:>8.2f} {result.percentile(0.99) * 1000:>8.2f} "
            f"{result.percentile(0.5, server=True) * 1000:>10.2f} "
            f"{result.query_text:>12}  {errors}"
        )
    print(
        "p50/p99: as the clients saw it (network, gunicorn and the client's own work included); "
        "django p50: time inside Django alone (X-Server-Ms). Nothing is cached."
    )
    print()
    goals = []
    by_key = {(result.endpoint, result.tenant): result for result in results}
    names = [r.endpoint for r in results if r.tenant == small]
    for name in names:
        few, many = by_key.get((name, small)), by_key.get((name, large))
        if few is None or many is None:
            continue
        same = few.query_mode is not None and few.query_mode == many.query_mode
        goals.append(
            f"{'PASS' if same else 'FAIL'} {name}: {few.query_text} queries at {small}, "
            f"{many.query_text} at {large} (goal: the same)"
        )
    for line in goals:
        print(line)
    return goals


# ---------------------------------------------------------------------------------------------
# Servers: each seeded by a process of its own that runs the served checkout's code
# ---------------------------------------------------------------------------------------------
def seed_here(sizes: tuple[int, int]) -> dict[str, Any]:
    """In the seeding process: migrate, seed both organizations and a staff user, and return
    what the clients need (printed as JSON for the parent)."""
    prepare_database()
    remove_seed()  # an earlier run that was interrupted
    rng = random.Random(20260101)  # the same data for every checkout served
    tenants = [seed_tenant(sizes[0], rng), seed_tenant(sizes[1], rng)]
    staff_session = seed_staff()
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does after a bulk load: fresh statistics (without them the planner
        # guesses one row per organization and picks plans no real server would) and a
        # visibility map, so counts can be answered from an index alone.
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    from django.conf import settings

    return {
        "tenants": [asdict(tenant) for tenant in tenants],
        "staff_session": staff_session,
        "admin_url": settings.ADMIN_URL,
    }


@dataclass
class Server:
    """One checkout served by gunicorn, with its own folder, database and seeded data."""

    name: str  # "current", or the --compare ref
    tree: Path
    environment: dict[str, str]
    port: int
    tenants: list[Tenant] = field(default_factory=list)
    staff_session: str = ""
    admin_url: str = ""

    def _run(self, *arguments: str) -> str:
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *arguments],
            cwd=self.tree,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"{self.name}: {' '.join(arguments)} failed:\n{result.stderr}")
        return result.stdout

    def seed(self, sizes: tuple[int, int]) -> None:
        output = self._run("--seed-into-environment", f"{sizes[0]},{sizes[1]}")
        seeded = json.loads(output.strip().splitlines()[-1])
        self.tenants = [Tenant(**tenant) for tenant in seeded["tenants"]]
        self.staff_session = seeded["staff_session"]
        self.admin_url = seeded["admin_url"]

    def unseed(self) -> None:
        self._run("--unseed-environment")


def make_server(name: str, tree: Path, folder: Path, database_url: str) -> Server:
    write_server_modules(folder)
    port = _free_port()
    return Server(name, tree, server_environment(folder, database_url, port, tree), port)


def _recreate_postgres_database(database_url: str) -> None:
    """Drop and create the benchmark's own database for another checkout: migrated by a newer
    one before, it would hold a schema the older code cannot read."""
    import psycopg
    from psycopg import sql

    parsed = urlparse(database_url)
    name = sql.Identifier(parsed.path.lstrip("/"))
    maintenance = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=5) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))


def _suffixed(database_url: str, suffix: str) -> str:
    """The URL of a database beside `database_url` (PostgreSQL), or "" (SQLite)."""
    if not database_url:
        return ""
    parsed = urlparse(database_url)
    return parsed._replace(path=f"{parsed.path.rstrip('/') or '/dcvaas'}_{suffix}").geturl()


@contextlib.contextmanager
def worktree(ref: str, folder: Path) -> Iterator[Path]:
    """A detached checkout of `ref` (a commit, tag or branch of this repository)."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(folder), ref],
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder)], check=False
        )


def compare_report(results: dict[str, list[Result]], current: str, ref: str) -> None:
    """p50 of each endpoint on both checkouts and their ratio, current / ref."""
    print()
    header = (
        f"{'endpoint':<26} {'org':>13} {'p50 ' + current:>12} {'p50 ' + ref:>12} "
        f"{'ratio':>6} {'queries':>8} {'queries':>8}"
    )
    print(header)
    print("-" * len(header))
    theirs = {(r.endpoint, r.tenant): r for r in results[ref]}
    for mine in results[current]:
        other = theirs.get((mine.endpoint, mine.tenant))
        if other is None:
            continue
        a, b = mine.percentile(0.5) * 1000, other.percentile(0.5) * 1000
        print(
            f"{mine.endpoint:<26} {mine.tenant:>13} {a:>12.2f} {b:>12.2f} {a / b:>6.2f} "
            f"{mine.query_text:>8} {other.query_text:>8}"
        )
    print(f"ratio: p50 of {current} / p50 of {ref}, requests interleaved in shuffled rounds.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    # gunicorn's documented starting point: (2 x cores) + 1 processes. One thread each: a
    # request's Python then never waits for another's on the same interpreter lock.
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sizes", default="50,5000")
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--compare", metavar="REF", default="")
    parser.add_argument("--smoke", action="store_true")
    # Internal: the seeding process a server's set-up starts (see Server).
    parser.add_argument("--seed-into-environment", default="", help=argparse.SUPPRESS)
    parser.add_argument("--unseed-environment", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seed_into_environment:
        small, large = (int(part) for part in args.seed_into_environment.split(","))
        print(json.dumps(seed_here((small, large))))
        return 0
    if args.unseed_environment:
        import django

        django.setup()
        remove_seed()
        return 0
    if args.smoke:
        # Past one page of 50 on the large side, so pagination is exercised.
        args.sizes, args.requests, args.concurrency, args.max_seconds = "5,60", 6, 2, 30.0
        args.rounds = 2
    small_size, large_size = (int(part) for part in args.sizes.split(","))

    database_url = os.environ.get("DATABASE_URL", "")
    workdir = Path(tempfile.mkdtemp(prefix="dcvaas-webbench-"))
    parsed = urlparse(database_url)
    print(
        f"database: {f'{parsed.hostname}{parsed.path}' if database_url else 'SQLite (temp file)'}; "
        f"gunicorn {args.workers} workers x {args.threads} threads; "
        f"{args.concurrency} clients; "
        f"{args.requests} requests per endpoint and size"
        + (f"; compared with {args.compare}" if args.compare else "")
    )
    servers: list[Server] = []
    try:
        with contextlib.ExitStack() as stack:
            started = time.monotonic()
            servers.append(make_server("current", ROOT, workdir / "current", database_url))
            if args.compare:
                tree = stack.enter_context(worktree(args.compare, workdir / "ref-tree"))
                ref_database = _suffixed(database_url, "ref")
                if ref_database:
                    _recreate_postgres_database(ref_database)
                servers.append(make_server(args.compare, tree, workdir / "ref", ref_database))
            for server in servers:
                server.seed((small_size, large_size))
            print(
                f"seeded {small_size} + {large_size} domains "
                f"{'in each database ' if args.compare else ''}"
                f"in {time.monotonic() - started:.1f} s"
            )
            print()
            bases = {
                server.name: stack.enter_context(
                    gunicorn(
                        server.environment,
                        server.port,
                        args.workers,
                        args.threads,
                        workdir / f"gunicorn-{server.port}.log",
                        cwd=server.tree,
                    )
                )
                for server in servers
            }
            results = drive_all(servers, bases, args, small_size, large_size)
        for server in servers:
            if args.compare:
                print(f"\n{server.name}:")
            report(results[server.name], servers[0].tenants[0].label, servers[0].tenants[1].label)
        if args.compare:
            compare_report(results, "current", args.compare)
        total = sum(len(r.latencies) for rs in results.values() for r in rs)
        print(f"\n{total} requests in {time.monotonic() - started:.1f} s overall")
    finally:
        for server in servers:
            with contextlib.suppress(Exception):
                server.unseed()
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


def drive_all(
    servers: list[Server],
    bases: dict[str, str],
    args: argparse.Namespace,
    small_size: int,
    large_size: int,
) -> dict[str, list[Result]]:
    """Every endpoint of every server, in rounds: each round drives the baseline and every
    endpoint (of every server, in a shuffled order when there are two) for a share of the
    requests, so that a machine whose speed drifts during the run (a shared VM does) weighs on
    all of them alike."""
    options = {"concurrency": args.concurrency, "max_seconds": args.max_seconds / args.rounds}
    runs: list[tuple[Server, Endpoint, str]] = []
    for server in servers:
        tenants = server.tenants
        runs.append((server, Endpoint(BASELINE, "/bench/hello/"), "-"))
        polls = {tenant.label: poll_query(bases[server.name], tenant) for tenant in tenants}
        for endpoint_index in range(len(endpoints(tenants[0]))):
            for tenant in tenants:
                shown = endpoints(tenant, polls[tenant.label])[endpoint_index]
                runs.append((server, shown, tenant.label))
        everyone = f"all {small_size + large_size:,}"
        runs += [
            (server, endpoint, everyone)
            for endpoint in admin_endpoints(server.staff_session, server.admin_url)
        ]
    share = max(1, args.requests // args.rounds)
    rng = random.Random(7)
    parts: dict[tuple[str, str, str], list[Result]] = {}
    for _ in range(args.rounds):
        order = list(runs)
        if len(servers) > 1:
            rng.shuffle(order)
        for server, endpoint, label in order:
            result = drive(bases[server.name], endpoint, label, **options, requests_count=share)
            parts.setdefault((server.name, endpoint.name, label), []).append(result)
    return {
        server.name: [
            merge(parts[(server.name, endpoint.name, label)])
            for s, endpoint, label in runs
            if s is server
        ]
        for server in servers
    }


if __name__ == "__main__":
    sys.exit(main())
