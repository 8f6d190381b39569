"""Benchmark of origins at the scale of a big tenant (prints figures; not a test).

    python bench/origins.py                 # 5,000 hostnames, a fresh SQLite file
    python bench/origins.py --hostnames 1000
    DATABASE_URL=postgres://... python bench/origins.py

Starts the Cloudflare simulator in this process, with its per-token rate limit enforced,
registers the hostnames there over loopback HTTP on one origin, then measures:

1. changing that origin's address: the Cloudflare calls (one DNS record PATCH, whatever the
   number of hostnames), wall time and SQL;
2. moving every hostname to a second origin: one PATCH per hostname, spent through the shared
   rate budget at bulk priority, while a person's calls (a GET of one hostname every 0.2 s, at
   user priority) keep going. Prints the calls, the most spent in any budget window against the
   limit, Cloudflare's 429s, wall time, SQL per hostname, and how the person's calls fared.

The budget is scaled down (CLOUDFLARE_RATE_LIMIT per CLOUDFLARE_RATE_WINDOW seconds, defaults
600 per 5 s, 100 of it kept for people) so the move takes a minute, not the half hour 5,000
PATCHes take at Cloudflare's 1,200 per 5 minutes; the proportions are Cloudflare's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from collections import Counter

import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure(
    "origins",
    CLOUDFLARE_RATE_LIMIT="600",
    CLOUDFLARE_RATE_WINDOW="5",
    CLOUDFLARE_RATE_RESERVED="100",
)

import requests  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Organization  # noqa: E402
from billing.models import Subscription  # noqa: E402
from billing.plans import PlanKey, get_plan  # noqa: E402
from domains.cloudflare import CloudflareClient, CloudflareError  # noqa: E402
from domains.models import Domain, DomainStatus, Origin  # noqa: E402
from domains.origins import services  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox  # noqa: E402


def organization() -> Organization:
    org, _ = Organization.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    now = timezone.now()
    Subscription.objects.get_or_create(
        organization=org,
        defaults={
            "stripe_customer_id": "cus_bench",
            "stripe_subscription_id": "sub_bench",
            "plan": PlanKey.AGENCY,
            "stripe_price_id": get_plan(PlanKey.AGENCY).price_id,
            "status": "active",
            "current_period_start": now,
            "current_period_end": now + timezone.timedelta(days=30),
            "stripe_state_at": now,
        },
    )
    return org


def register(sim: CloudflareSandbox, org: Organization, origin: Origin, count: int) -> None:
    """`count` hostnames at Cloudflare on `origin`, and their rows as the app keeps them."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {sim.token}"
    url = f"{sim.base_url}/zones/{sim.zone_id}/custom_hostnames"
    rows = []
    for n in range(count):
        hostname = f"shop{n}.bench-customer.dev"
        body = {"hostname": hostname, "custom_origin_server": origin.record_name}
        response = session.post(url, json=body, timeout=10)
        response.raise_for_status()
        rows.append(
            Domain(
                organization=org,
                hostname=hostname,
                status=DomainStatus.ACTIVE,
                cloudflare_id=response.json()["result"]["id"],
                origin_server=origin.record_name,
                origin_applied=origin.record_name,
            )
        )
    Domain.objects.bulk_create(rows, batch_size=500)


def dns_calls(sim: CloudflareSandbox, since: int) -> Counter[str]:
    return Counter(
        f"{r.method} {'dns_records' if 'dns_records' in r.path else 'custom_hostnames'}"
        for r in sim.requests[since:]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hostnames", type=int, default=5000)
    count = parser.parse_args().hostnames
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    sim = setup_env.start_simulator()
    org = organization()
    first = services.origin_create(organization=org, name="First", address="93.184.215.14")
    second = services.origin_create(organization=org, name="Second", address="93.184.215.15")
    services.origins_sync()
    first.refresh_from_db()
    started = time.perf_counter()
    register(sim, org, first, count)
    print(f"{count:,} hostnames registered on origin First in {time.perf_counter() - started:.1f}s")
    limit, window = int(settings.CLOUDFLARE_RATE_LIMIT), int(settings.CLOUDFLARE_RATE_WINDOW)
    reserved = int(settings.CLOUDFLARE_RATE_RESERVED)
    # The simulator counts each token's requests over the last `window` seconds: wait one out,
    # so the set-up's requests do not count against what is measured.
    time.sleep(window)
    sim.configure(enforce_rate_limit=True, rate_limit=limit, rate_window=window)

    # 1. A new address for the origin serving every hostname.
    since = len(sim.requests)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        services.origin_update(origin=first, address="93.184.215.16")
        report = services.origins_sync()
    elapsed = time.perf_counter() - started
    calls = dns_calls(sim, since)
    print(
        f"\nchange the address of an origin serving {count:,} hostnames: "
        f"Cloudflare calls {sum(calls.values())} ({dict(calls)}), hostnames PATCHed "
        f"{report.hostnames_patched}, time {elapsed:.3f}s, SQL {len(queries)}"
    )

    # 2. Move every hostname to the second origin while a person keeps using the API.
    stop = threading.Event()
    person: list[float] = []
    person_failed: list[str] = []
    sample_id = Domain.objects.values_list("cloudflare_id", flat=True).first() or ""

    def a_person() -> None:
        while True:  # at least one call, however short the move
            started = time.perf_counter()
            try:
                CloudflareClient.interactive().get(sample_id)
            except CloudflareError as error:
                person_failed.append(str(error))
            person.append(time.perf_counter() - started)
            if stop.wait(0.2):
                return

    since = len(sim.requests)
    started = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        Domain.objects.filter(organization=org).update(origin=second)
        services.origins_retarget(org.pk)
        thread = threading.Thread(target=a_person, daemon=True)
        thread.start()
        patched = runs = 0
        while True:
            report = services.origins_sync(limit=services.APPLY_BATCH)
            patched += report.hostnames_patched
            runs += 1
            if not report.remaining:
                break
        stop.set()
        thread.join()
    elapsed = time.perf_counter() - started
    moves = [r for r in sim.requests[since:] if r.method == "PATCH"]
    throttled = sum(1 for r in sim.requests[since:] if r.status == 429)
    windows = Counter(int(r.at // window) for r in sim.requests[since:])
    busiest = max(windows.values()) if windows else 0
    on_second = Domain.objects.filter(origin_applied=second.record_name).count()
    print(
        f"\nmove {count:,} hostnames to another origin: PATCH calls {len(moves)} "
        f"({len(moves) / max(1, count):.2f} a hostname), {runs} runs, time {elapsed:.1f}s "
        f"({patched / elapsed:.0f} hostnames/s), SQL {len(queries)} "
        f"({len(queries) / max(1, count):.1f} a hostname)"
    )
    print(
        f"  budget: {limit} calls per {window}s, {limit - reserved} for background work; "
        f"busiest window {busiest or 'n/a'} calls; Cloudflare 429s: {throttled}; "
        f"hostnames now on the second origin: {on_second:,}"
    )
    if person:
        print(
            f"  a person's calls meanwhile: {len(person)}, failed {len(person_failed)}, "
            f"p50 {statistics.median(person) * 1000:.0f} ms, max {max(person) * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
