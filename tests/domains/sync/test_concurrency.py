"""Overlapping cycles: every due domain is claimed by exactly one of them."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from accounts.models import Organization
from domains import sync
from domains.models import Domain
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_schedulers_running_at_once_claim_each_domain_once(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domains = register_many(cloudflare_http, acme, 60)
    barrier = threading.Barrier(2)

    def plan() -> set[str]:
        try:
            barrier.wait(timeout=10)
            run = sync.plan_cycle(trigger="test").run
            mine = Domain.objects.filter(next_sync_at=run.lease_until).values_list("pk")
            assert run.claimed == len(mine)
            return {str(pk) for (pk,) in mine}
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first, second = (f.result() for f in [pool.submit(plan), pool.submit(plan)])

    assert first.isdisjoint(second)
    assert first | second == {str(d.pk) for d in domains}


def test_a_claimed_domain_is_left_alone_until_its_lease_expires(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    register_many(cloudflare_http, acme, 3)
    abandoned = sync.plan_cycle(trigger="test").run  # its batches never run: a dead worker
    assert abandoned.claimed == 3

    assert sync.run_cycle().claimed == 0
    with time_machine.travel(abandoned.lease_until + timedelta(seconds=1), tick=True):
        run = sync.run_cycle()
        assert run.claimed == 3
        assert not Domain.objects.filter(next_sync_at__lte=timezone.now()).exists()
