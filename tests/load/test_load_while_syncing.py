"""A bounded burst of API traffic against the running app while the sync loop runs beside it.

Loopback only, a fixed number of requests, a time cap. What it proves: no errors and no lost
updates — every domain created and not removed exists once, in our database and at Cloudflare,
every removed one is gone from both, and the sync loop's writes never undo the requests' ones.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from django.db import connection, connections
from django.utils import timezone

from accounts.models import Organization, User
from accounts.services import api_token_create
from domains.models import Domain, DomainEvent, DomainEventKind, DomainStatus
from domains.sync import run_cycle
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="concurrent writers are a PostgreSQL matter; CI sets DATABASE_URL and runs this",
    ),
]

CLIENTS = 6
DOMAINS_PER_CLIENT = 8
TIME_CAP = 90.0


def test_a_burst_of_api_traffic_while_the_sync_loop_runs_loses_nothing(
    live_server: Any,
    acme: Organization,
    alice: User,
    cloudflare_sim: CloudflareSandbox,
    dns_sandbox: DnsSandbox,
    settings: Any,
) -> None:
    settings.PLAN_LIMIT_FREE = 1000
    settings.API_THROTTLE_RATE = "1000000/min"
    settings.API_ANON_THROTTLE_RATE = "1000000/min"
    settings.CHECK_NOW_INTERVAL = 1
    raw = api_token_create(organization=acme, created_by=alice, name="load")[1]
    headers = {"Authorization": f"Bearer {raw}"}
    api = f"{live_server.url}/api/v1/domains"
    deadline = time.monotonic() + TIME_CAP
    statuses: list[int] = []
    kept: set[str] = set()
    removed: set[str] = set()
    with_cname: set[str] = set()
    lock = threading.Lock()

    stop = threading.Event()
    cycles = 0

    def sync_loop() -> None:
        nonlocal cycles
        try:
            while not stop.is_set():
                # Claim everything due in the next hours, so each pass really works.
                run_cycle(now=timezone.now() + dt.timedelta(hours=5), trigger="test")
                cycles += 1
                time.sleep(0.05)
        finally:
            connections.close_all()  # this thread's own connection, or teardown cannot drop the DB

    def client(n: int) -> None:
        session = requests.Session()
        session.headers.update(headers)
        for i in range(DOMAINS_PER_CLIENT):
            if time.monotonic() > deadline:
                return
            hostname = f"c{n}-{i}.load.test-customer.dev"
            created = session.post(api, json={"hostname": hostname}, timeout=30)
            answers = [created.status_code]
            domain_id = created.json().get("id")
            if i % 2 == 0:
                dns_sandbox.cname(hostname, "dcv.pcnaid.com")
            answers.append(session.get(f"{api}/{domain_id}", timeout=30).status_code)
            answers.append(session.post(f"{api}/{domain_id}/check", timeout=30).status_code)
            answers.append(session.get(api, params={"page_size": 20}, timeout=30).status_code)
            gone = i % 3 == 2
            if gone:
                answers.append(session.delete(f"{api}/{domain_id}", timeout=30).status_code)
            with lock:
                statuses.extend(answers)
                (removed if gone else kept).add(hostname)
                if i % 2 == 0 and not gone:
                    with_cname.add(hostname)

    syncer = threading.Thread(target=sync_loop, name="sync-loop")
    syncer.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(client, range(CLIENTS)))
    finally:
        stop.set()
        syncer.join(timeout=60)
    assert not syncer.is_alive()
    assert cycles > 0

    # No errors: every answer is one the API documents for these calls.
    assert not [s for s in statuses if s >= 500]
    assert set(statuses) <= {200, 201, 202, 204, 429}
    assert statuses.count(201) == len(kept) + len(removed) == CLIENTS * DOMAINS_PER_CLIENT

    # Let the loop settle whatever is still in flight (removals Cloudflare has not confirmed).
    for _ in range(3):
        run_cycle(now=timezone.now() + dt.timedelta(hours=5), trigger="test")

    # No lost updates: ours and Cloudflare's records agree, exactly.
    ours = dict(Domain.objects.values_list("hostname", "cloudflare_id"))
    at_cloudflare = {h["hostname"]: h["id"] for h in cloudflare_sim.hostnames()}
    assert set(ours) == kept
    assert at_cloudflare == ours
    for domain in Domain.objects.all():
        expected = DomainStatus.ACTIVE if domain.hostname in with_cname else DomainStatus.PENDING
        assert domain.status == expected, domain.hostname
        kinds = list(
            DomainEvent.objects.filter(hostname=domain.hostname).values_list("kind", flat=True)
        )
        assert kinds.count(DomainEventKind.CREATED) == 1
        assert kinds.count(DomainEventKind.REGISTERED) == 1
    for hostname in removed:
        assert (
            DomainEvent.objects.filter(hostname=hostname, kind=DomainEventKind.DELETED).count() == 1
        )
