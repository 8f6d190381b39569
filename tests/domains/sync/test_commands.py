"""`manage.py sync_domains` and `manage.py sync_domain HOSTNAME`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Organization
from domains.models import Domain, DomainStatus, SyncRun
from sandbox.cloudflare import CloudflareSandbox
from tests.domains.sync.helpers import DOMAIN, register, register_many
from tests.fixtures.cloudflare import CloudflareHttp

pytestmark = pytest.mark.django_db


def test_sync_domains_runs_one_cycle_and_prints_its_summary(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    for domain in register_many(cloudflare_http, acme, 4):
        cloudflare_sim.set_cname(domain.hostname, True)
    out = StringIO()

    call_command("sync_domains", stdout=out)

    text = out.getvalue()
    assert "4 due, 4 claimed; strategy: Zone listing (50 a page)" in text
    assert "[##############################] 4/4" in text
    for line in ("due:", "fetched:", "changed:", "Cloudflare calls:", "errors:", "time:"):
        assert line in text
    assert "changed:          4" in text
    assert "Cloudflare calls: 1" in text
    assert Domain.objects.filter(status=DomainStatus.ACTIVE).count() == 4
    assert SyncRun.objects.get().trigger == "command"


def test_sync_domain_prints_one_domain_before_and_after(
    acme: Organization, cloudflare_sim: CloudflareSandbox, cloudflare_http: CloudflareHttp
) -> None:
    domain = register(cloudflare_http, acme, f"app.{DOMAIN}", due=False)
    cloudflare_sim.set_cname(domain.hostname, True)
    out = StringIO()

    call_command("sync_domain", f"APP.{DOMAIN}.", stdout=out)

    assert out.getvalue().splitlines()[0] == (
        f"app.{DOMAIN}: pending (hostname pending, certificate pending_validation) -> "
        "active (hostname active, certificate active)"
    )
    assert "next check:" in out.getvalue()


def test_sync_domain_refuses_an_unknown_hostname(
    cloudflare_sim: CloudflareSandbox, db: None
) -> None:
    with pytest.raises(CommandError, match="No domain nowhere.acme-shop.dev"):
        call_command("sync_domain", "nowhere.acme-shop.dev")
