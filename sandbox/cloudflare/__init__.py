"""Cloudflare for SaaS simulator: the custom hostnames API on loopback, faithful enough that
Cloudflare's official Python SDK and our own client run against it unchanged.

Served under `/client/v4` (so `base_url=http://127.0.0.1:PORT/client/v4` works):

- `POST|GET  /zones/{zone}/custom_hostnames`            create (201) / list, filter, paginate
- `GET|PATCH|DELETE /zones/{zone}/custom_hostnames/{id}`  details / edit or refresh (202) / delete
- `GET|PUT|DELETE /zones/{zone}/custom_hostnames/fallback_origin`
- `GET /zones/{zone}/custom_hostnames/quota`
- `POST|GET /zones/{zone}/dns_records`, `GET|PATCH|PUT|DELETE /zones/{zone}/dns_records/{id}`:
  the SaaS zone's A, AAAA and CNAME records (the records tenant origins are made of)
- `GET /sandbox/`  a control page (no auth) to play the customer: add or remove the CNAME, block,
  move, refresh.

A new hostname is `pending` with ssl `initializing`; after `Delays.records` its validation records
appear (ssl `pending_validation`). Once the CNAME reaches the target (DNS through the configured
resolver, or `set_cname()`), the hostname turns `active` and ssl goes `pending_issuance` ->
`pending_deployment` -> `active` (each step after its delay) with `ssl.certificates[]`.
Transitions are evaluated lazily, when a hostname is read, against an injectable clock.

Custom origin servers: a hostname created or PATCHed with `custom_origin_server` needs a DNS
record of that name in the zone (else 400/1421; 1415-1420 for names that cannot be one), and the
zone's entitlement (`custom_origins=False`: 403/1414). `route(hostname)` says where the edge would
send its traffic; a record changed later is followed, a deleted one gives error 1016.

Test hostnames (like a payment sandbox's test cards; the first label picks the scenario, and
`<kind>-anything` works too, e.g. `caa-2.shop.test-customer.dev`):

| first label | what Cloudflare does |
|---|---|
| `blocked`  | status `blocked`, "...associated with a held zone..." error; stays blocked |
| `moved`    | status `moved` (never validates); a refresh: `pending`, then `moved` again |
| `caa`      | ssl stays `pending_validation` with validation error `caa_error: <host>` |
| `servfail` | ssl stays `pending_validation` with `SERVFAIL looking up CAA for <host>` |
| `timeout`  | ssl `validation_timed_out` until a refresh PATCH; after it, the normal flow |
| (any other) | normal flow; without a CNAME it turns `moved` after `Delays.give_up` (7 days) |
"""

from __future__ import annotations

from pathlib import Path

from sandbox.cloudflare.app import CloudflareSandbox, RecordedRequest
from sandbox.cloudflare.model import Delays, ManualClock

__all__ = [
    "RUN_DELAYS",
    "CloudflareSandbox",
    "Delays",
    "ManualClock",
    "RecordedRequest",
    "app_from_settings",
    "parse_delays",
]

# Delays for a person clicking through `make run`: long enough to see each state, short enough
# not to wait.
RUN_DELAYS = Delays(records=3.0, issuance=5.0, deployment=5.0, dns_cache=2.0)


def parse_delays(text: str) -> Delays:
    """`validation=45,issuance=60,deployment=30,spread=0.9`: RUN_DELAYS with those changed."""
    values: dict[str, float] = {}
    known = set(vars(RUN_DELAYS))
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        if name not in known:
            raise ValueError(f"unknown delay {name!r}; known: {', '.join(sorted(known))}")
        values[name] = float(value)
    return Delays(**{**vars(RUN_DELAYS), **values})


def app_from_settings(
    state_dir: Path | None = None,
    *,
    dns_resolver: str | None = None,
    delays: Delays | None = None,
) -> CloudflareSandbox:
    """The simulator configured from Django settings (zone, token, CNAME target, resolver;
    `dns_resolver` overrides DNS_RESOLVER, `delays` the RUN_DELAYS)."""
    from django.conf import settings

    return CloudflareSandbox(
        zone_id=settings.CLOUDFLARE_ZONE_ID or settings.SANDBOX_CLOUDFLARE_ZONE_ID,
        account_id=settings.CLOUDFLARE_ACCOUNT_ID or settings.SANDBOX_CLOUDFLARE_ACCOUNT_ID,
        zone_name=settings.CLOUDFLARE_ZONE_NAME,
        token=settings.CLOUDFLARE_API_TOKEN or settings.SANDBOX_CLOUDFLARE_TOKEN,
        cname_target=settings.DCV_CNAME_TARGET,
        dns_resolver=settings.DNS_RESOLVER if dns_resolver is None else dns_resolver,
        delays=Delays(**vars(delays or RUN_DELAYS)),
        state_file=state_dir / "cloudflare.json" if state_dir is not None else None,
    )
