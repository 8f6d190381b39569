"""Benchmark of webhook delivery: many events to ten local endpoints, one of them dead.

    python bench/webhooks.py [--events 1000,10000 --workers 4 --timeout 2 --database-core]
    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/webhooks.py

Migrates a fresh database (a SQLite file in a temp dir unless DATABASE_URL is set; a PostgreSQL
database is created if missing), creates an
organization with ten endpoints (nine answered by the sandbox's inbox on loopback, one that
accepts connections and never answers: a hung app), records `--events` messages through the
outbox (as changes record them; each fans out to all ten endpoints), and delivers them with
`--workers` worker processes that each run `domains.webhooks.delivery.deliver_endpoint` for
one endpoint at a time, as Celery's prefork workers run `domains.deliver_endpoint` tasks
(`--threads`: threads of this one process instead, which share one interpreter with the
inbox and measure the harness as much as the product). Prints the
deliveries per second to the live endpoints, the delay from a message's commit to its 2xx
(p50/p99), how much of the workers' time the dead endpoint took (proof that it did not
slow the others) and where the CPU went while delivering: the worker processes', this
process's (the inbox and the dispatcher) and, on a PostgreSQL server on this machine, the
server's. `--database-core` runs in production's layout, where the database has a host of its
own: the local PostgreSQL and Redis servers it uses get the last core to themselves and the
benchmark the others (on SQLite it is confined to the same cores, so both compare); every
affinity changed is restored at the end. Each backlog in `--events` runs in turn on the same
database (a fresh organization and endpoints each), so the pace of a small and a large backlog
compare: the last line is `backlog <events>: <deliveries/s> ...` for each. Only loopback is
contacted; bounded in count and time.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# The outbox kicks a delivery task after each commit; here the threads below deliver.
import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure("webhooks", CELERY_TASK_ALWAYS_EAGER="false")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections, connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains.events import publish  # noqa: E402
from domains.models import (  # noqa: E402
    Domain,
    DomainStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEventType,
)
from domains.webhooks import delivery  # noqa: E402
from sandbox.inbox import WebhookInbox  # noqa: E402
from sandbox.server import SandboxServer  # noqa: E402

LIVE_ENDPOINTS = 9


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def hung_server() -> tuple[socket.socket, int]:
    """A socket that accepts connections (the kernel does, from its backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock, int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", default="1000,10000", help="comma-separated backlogs, run in turn"
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--threads",
        action="store_true",
        help="deliver with threads of this process instead of worker processes",
    )
    parser.add_argument("--timeout", type=float, default=2.0, help="one attempt's limit, s")
    parser.add_argument("--max-seconds", type=float, default=900.0)
    parser.add_argument(
        "--no-dead", action="store_true", help="leave the dead endpoint out, to compare"
    )
    parser.add_argument(
        "--database-core",
        action="store_true",
        help="production's layout: the local database and Redis servers on a core of their "
        "own, this benchmark on the others (on SQLite: this benchmark on the same cores)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events recorded per second while delivering (0: all recorded first, which "
        "measures throughput; a rate measures the delay from commit to 2xx)",
    )
    args = parser.parse_args()
    settings.WEBHOOK_TIMEOUT_SECONDS = args.timeout

    if connections["default"].vendor == "postgresql":
        setup_env.ensure_postgres_database(os.environ["DATABASE_URL"])
    call_command("migrate", verbosity=0, interactive=False)
    inbox = WebhookInbox()
    server = SandboxServer(inbox).start()
    dead, dead_port = hung_server()
    # The inbox and the hung endpoint are on loopback: the only ports a webhook may go to here.
    settings.WEBHOOK_LOOPBACK_PORTS = [server.port, dead_port]
    paces = []
    ok = True
    servers = setup_env.local_servers()
    layout = setup_env.DatabaseOnItsOwnCore(servers) if args.database_core else None
    try:
        with layout or contextlib.nullcontext():
            if layout is not None:
                print(layout.describe())
            for n, events in enumerate(int(e) for e in args.events.split(",")):
                inbox.reset()
                pace, complete = run_backlog(args, events, server, inbox, dead_port, n)
                paces.append((events, pace, complete))
                ok = ok and complete
    finally:
        server.stop()
        dead.close()
    vendor = connections["default"].vendor
    redis = "Redis" if settings.REDIS_URL else "no Redis"
    for events, pace, complete in paces:
        print(
            f"backlog {events:,} events x {LIVE_ENDPOINTS} live endpoints ({vendor}, {redis}): "
            f"{pace:,.0f} deliveries/s{'' if complete else ' (not all delivered in time)'}"
        )
    return 0 if ok else 1


def deliver_one(endpoint_id: str) -> tuple[str, float]:
    """One `domains.deliver_endpoint` task, in a worker process; returns how long it took."""
    began = time.monotonic()
    try:
        delivery.deliver_endpoint(endpoint_id)
    finally:
        # As Celery's Django fix-up does after each task: the connection is kept for the next
        # task until it is CONN_MAX_AGE old (or broken).
        close_old_connections()
    return endpoint_id, time.monotonic() - began


def run_backlog(
    args: argparse.Namespace,
    events: int,
    server: SandboxServer,
    inbox: WebhookInbox,
    dead_port: int,
    run: int,
) -> tuple[float, bool]:
    """Record `events` messages for a fresh organization's endpoints and deliver them; returns
    the deliveries a second to the live endpoints and whether all of them went."""
    # An earlier run's dead endpoint keeps its pending deliveries: it stops competing here.
    WebhookEndpoint.objects.filter(url__startswith="http://127.0.0.1:").exclude(
        url__startswith=server.url
    ).update(enabled=False)
    organization = Organization.objects.create(
        name=f"Webhook bench {run}", slug=f"webhook-bench-{run}-{time.time_ns()}"
    )
    live = [
        WebhookEndpoint.objects.create(
            organization=organization, url=f"{server.url}/hooks/{run}/{n}"
        )
        for n in range(LIVE_ENDPOINTS)
    ]
    dead_endpoint = WebhookEndpoint.objects.create(
        organization=organization,
        url=f"http://127.0.0.1:{dead_port}/hooks/{run}",
        enabled=not args.no_dead,
    )
    domain = Domain.objects.create(
        organization=organization,
        hostname=f"bench{run}.test-customer.dev",
        status=DomainStatus.ACTIVE,
    )
    print(
        f"\ndatabase: {connections['default'].vendor}; {events:,} events x "
        f"{LIVE_ENDPOINTS + (0 if args.no_dead else 1)} endpoints"
        f"{'' if args.no_dead else f' (1 never answers, {args.timeout:g} s limit)'}; "
        f"{args.workers} worker {'threads' if args.threads else 'processes'}"
    )

    committed: dict[str, float] = {}
    types = [t for t in WebhookEventType.values if t != WebhookEventType.TEST]

    def record(first: int, count: int) -> None:
        with transaction.atomic():
            messages = publish(
                (types[n % len(types)], domain, timezone.now(), {})
                for n in range(first, first + count)
            )
        now = time.time()
        committed.update((m.id, now) for m in messages)

    def record_at_rate() -> None:
        step = max(1, int(args.rate / 10))  # ten commits a second
        began = time.monotonic()
        for first in range(0, events, step):
            record(first, min(step, events - first))
            time.sleep(max(0.0, began + (first + step) / args.rate - time.monotonic()))
        connections.close_all()

    started = time.monotonic()
    producer = None
    if args.rate:
        producer = threading.Thread(target=record_at_rate)
        producer.start()
        print(f"recording {events:,} messages at {args.rate:g} a second while delivering")
    else:
        for first in range(0, events, 500):
            record(first, min(500, events - first))
        print(f"recorded {events:,} messages in {time.monotonic() - started:.1f} s")

    busy: dict[str, float] = {}
    cpu_before, server_before = os.times(), setup_env.local_database_cpu()
    in_flight: set[str] = set()
    lock = threading.Lock()

    def run(endpoint_id: str) -> None:
        began = time.monotonic()
        try:
            delivery.deliver_endpoint(endpoint_id)
        finally:
            close_old_connections()
            with lock:
                busy[endpoint_id] = busy.get(endpoint_id, 0.0) + time.monotonic() - began
                in_flight.discard(endpoint_id)

    live_ids = {str(e.pk) for e in live}
    total_live = events * LIVE_ENDPOINTS
    deadline = time.monotonic() + args.max_seconds
    delivering = time.monotonic()

    def finished(result: tuple[str, float]) -> None:
        endpoint_id, seconds = result
        with lock:
            busy[endpoint_id] = busy.get(endpoint_id, 0.0) + seconds
            in_flight.discard(endpoint_id)

    # Worker processes are forked with no database connection open (each opens its own).
    connections.close_all()
    pool = (
        ThreadPoolExecutor(max_workers=args.workers)
        if args.threads
        else multiprocessing.get_context("fork").Pool(args.workers)
    )
    try:
        # The dispatcher (`domains.deliver_webhooks`): each endpoint with due deliveries gets a
        # task, one at a time per endpoint.
        while time.monotonic() < deadline:
            # Read from the pending deliveries' index: counting the delivered ones would scan
            # the whole backlog every round, and the harness would compete with the workers.
            if not WebhookDelivery.objects.filter(
                endpoint_id__in=live_ids, status=WebhookDeliveryStatus.PENDING
            ).exists() and (producer is None or not producer.is_alive()):
                break
            for endpoint_id in delivery.due_endpoints():
                with lock:
                    if endpoint_id in in_flight:
                        continue
                    in_flight.add(endpoint_id)
                if isinstance(pool, ThreadPoolExecutor):
                    pool.submit(run, endpoint_id)
                else:
                    pool.apply_async(deliver_one, (endpoint_id,), callback=finished)
            time.sleep(0.05)
        elapsed = time.monotonic() - delivering
    finally:
        if isinstance(pool, ThreadPoolExecutor):
            pool.shutdown()
        else:
            pool.close()
            pool.join()
    cpu_after, server_after = os.times(), setup_env.local_database_cpu()
    if producer is not None:
        producer.join()

    received = inbox.received()
    delays = [
        r.at - committed[r.headers["webhook-id"]]
        for r in received
        if r.headers.get("webhook-id") in committed
    ]
    succeeded = WebhookDelivery.objects.filter(
        endpoint_id__in=live_ids, status=WebhookDeliveryStatus.SUCCEEDED
    ).count()
    dead_attempts = sum(
        WebhookDelivery.objects.filter(endpoint=dead_endpoint).values_list("attempts", flat=True)
    )
    dead_busy = busy.get(str(dead_endpoint.pk), 0.0)
    all_busy = sum(busy.values())
    print(
        f"delivered {succeeded:,} of {total_live:,} to the live endpoints in {elapsed:.1f} s: "
        f"{succeeded / elapsed:,.0f} deliveries/s"
    )
    queue = "" if args.rate else " (all recorded first: this includes the queue)"
    print(
        f"commit to 2xx: p50 {percentile(delays, 0.5):.2f} s, "
        f"p99 {percentile(delays, 0.99):.2f} s{queue}"
    )
    print(
        f"dead endpoint: {dead_attempts} attempts, its tasks held a worker "
        f"{dead_busy:.1f} s of {all_busy:.1f} s worker time ({dead_busy / all_busy:.0%}); "
        f"the live endpoints' deliveries never waited on it"
    )
    # The worker processes are reaped when the pool is joined: their CPU is this process's
    # children's; the inbox and the dispatcher are threads of this process.
    workers = (cpu_after.children_user + cpu_after.children_system) - (
        cpu_before.children_user + cpu_before.children_system
    )
    own = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    if args.threads:
        workers, own = own, 0.0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    database = (
        "the database: inside the workers (SQLite)"
        if server_before is None or server_after is None
        else f"the database server {server_after - server_before:.1f} s"
    )
    print(
        f"CPU while delivering ({elapsed:.1f} s on {cores} core(s) for this benchmark): "
        f"workers {workers:.1f} s, the inbox and the dispatcher {own:.1f} s, {database}"
    )
    return succeeded / elapsed, succeeded == total_live


if __name__ == "__main__":
    sys.exit(main())
