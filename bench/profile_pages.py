"""Where a page's time goes: cProfile over many requests to one page, in-process.

    .venv/bin/python bench/profile_pages.py [--page api-list --size 50 --requests 300]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/dcvaas_profile REDIS_URL=redis://... \\
        .venv/bin/python bench/profile_pages.py --page dashboard --size 5000

Migrates the database (SQLite in a temp dir unless DATABASE_URL is set; a PostgreSQL database
must exist), collects static files, seeds one organization of `--size` domains with
bench/web.py's own seeding, warms up, then runs `--requests` GETs of the page through Django's
test client (the whole middleware stack, production settings, nothing cached) under cProfile,
and prints the functions with the most time of their own and the most time below them, and
the SQL statements one request runs. The seed is removed afterwards. Figures of a profiler are
slower than a real server's; they say where the time goes, not how long a request takes
(bench/web.py does).

Pages: dashboard, domain-page, status-fragment, api-list, api-detail.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sys
from typing import Any

import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure(
    "profile", DEBUG="false", ALLOWED_HOSTS="testserver", API_THROTTLE_RATE="1000000/min"
)

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.web import Tenant, remove_seed, seed_tenant  # noqa: E402

PAGES = {
    "dashboard": lambda t: ("/dashboard/", {}),
    "domain-page": lambda t: (f"/domains/{t.domain_id}/", {}),
    "status-fragment": lambda t: (f"/domains/{t.domain_id}/status/", {"HTTP_HX_REQUEST": "true"}),
    "api-list": lambda t: ("/api/v1/domains", {"HTTP_AUTHORIZATION": f"Bearer {t.token}"}),
    "api-detail": lambda t: (
        f"/api/v1/domains/{t.domain_id}",
        {"HTTP_AUTHORIZATION": f"Bearer {t.token}"},
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="api-list")
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    settings.STATIC_ROOT = str(WORKDIR / "static")
    call_command("migrate", verbosity=0, interactive=False)
    call_command("createcachetable", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)
    remove_seed()
    tenant: Tenant = seed_tenant(args.size, random.Random(20260101))
    try:
        path, headers = PAGES[args.page](tenant)
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = tenant.session_key
        for _ in range(20):
            response = client.get(path, **headers)
            assert response.status_code in (200, 286), response.content[:300]
        statements: list[str] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            client.get(path, **headers)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            client.get(path, **headers)
        profile.disable()
        print(
            f"{args.page} ({path}) at {args.size} domains, {args.requests} requests, "
            f"{connection.vendor}; {len(response.content):,} bytes; "
            f"{len(statements)} SQL statements a request:"
        )
        for sql in statements:
            print(f"  {sql[:160]}")
        for order in ("tottime", "cumulative"):
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.sort_stats(order).print_stats(args.top)
            print(f"\n--- by {order} ---")
            print(out.getvalue().split("\n\n", 2)[-1].rstrip())
    finally:
        remove_seed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
