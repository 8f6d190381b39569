"""`manage.py cloudflare_check`: is Cloudflare for SaaS set up well enough for DCVaaS to work?

The first thing an operator runs. Each check prints OK, WARN or PROBLEM with what to do in plain
words; the exit code is non-zero if any check found a problem.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from redis.exceptions import RedisError

from domains.cloudflare import (
    ROUTING_CODES,
    CloudflareAuthError,
    CloudflareClient,
    CloudflareError,
    CloudflareOriginRejectedError,
    CloudflarePermanentError,
    CloudflareRateLimitedError,
    CloudflareTransientError,
    FallbackOriginStatus,
    cname_target,
)
from domains.models import Domain, ZoneEntitlement
from domains.push.setup import PushSetupError, push_status

OK, WARN, PROBLEM = "OK", "WARN", "PROBLEM"
CREDENTIALS_ADVICE = (
    "Create an API token in the Cloudflare dashboard (My Profile > API Tokens) with the "
    "permission Zone > SSL and Certificates > Edit for the SaaS zone, and put it in "
    "CLOUDFLARE_API_TOKEN."
)
ZONE_ADVICE = (
    "CLOUDFLARE_ZONE_ID must be the 32-character Zone ID shown on the SaaS zone's Overview page "
    "in the Cloudflare dashboard, and the token must be allowed to use that zone."
)
FALLBACK_ADVICE = (
    "Create a proxied (orange cloud) A, AAAA or CNAME record in the SaaS zone pointing at your "
    "app (for example fallback.<your zone>), then set it as the fallback origin under SSL/TLS > "
    "Custom Hostnames in the dashboard."
)
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass(frozen=True)
class Finding:
    level: str
    name: str
    detail: str
    advice: str = ""


class Command(BaseCommand):
    help = "Check the Cloudflare for SaaS settings, token, zone, fallback origin and quota."

    def handle(self, *args: Any, **options: Any) -> None:
        findings = check_all()
        for finding in findings:
            self.stdout.write(f"{finding.level:<8} {finding.name}: {finding.detail}")
            if finding.advice:
                self.stdout.write(f"{'':<8} What to do: {finding.advice}")
        problems = sum(1 for f in findings if f.level == PROBLEM)
        if problems:
            raise CommandError(
                f"{problems} problem(s) found; fix them and run cloudflare_check again.",
                returncode=1,
            )
        self.stdout.write("All Cloudflare checks passed.")


def check_all() -> list[Finding]:
    """Every check, in the order an operator would fix them."""
    findings = _check_settings()
    findings.append(_check_cname_target())
    if any(f.level == PROBLEM and f.name.startswith("setting") for f in findings):
        return findings
    client = CloudflareClient(max_wait=10.0)
    try:
        access = _check_token_and_zone(client)
        findings.extend(access)
        if any(f.level == PROBLEM for f in access):
            return findings  # the calls below would fail for the same reason
        findings.append(_check_fallback_origin(client))
        findings.append(_check_quota(client))
        findings.extend(_check_origins(client))
        findings.append(_check_push(client))
    except (DatabaseError, RedisError) as exc:
        # Every call spends from the shared rate budget, which lives in Redis or the database.
        findings.append(
            Finding(
                PROBLEM,
                "rate budget",
                f"the shared Cloudflare rate budget is unavailable ({exc})",
                "Run `python manage.py migrate`, and check that REDIS_URL (if set) points at a "
                "running Redis.",
            )
        )
    return findings


def _check_settings() -> list[Finding]:
    findings = []
    for name in ("CLOUDFLARE_API_BASE", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ZONE_ID"):
        value = getattr(settings, name, "")
        if not isinstance(value, str) or not value.strip():
            advice = CREDENTIALS_ADVICE if name == "CLOUDFLARE_API_TOKEN" else f"Set {name}."
            if name == "CLOUDFLARE_ZONE_ID":
                advice = ZONE_ADVICE
            findings.append(Finding(PROBLEM, f"setting {name}", "not set", advice))
    if not findings:
        base = settings.CLOUDFLARE_API_BASE
        detail = f"API at {base}"
        if not base.startswith("https://api.cloudflare.com/"):
            detail += " (not Cloudflare's production API: the local simulator or a proxy)"
        findings.append(Finding(OK, "settings", detail))
    return findings


def _check_cname_target() -> Finding:
    try:
        target = cname_target()
    except ImproperlyConfigured:
        return Finding(
            PROBLEM,
            "CNAME target",
            "DCV_CNAME_TARGET is not set",
            "Set DCV_CNAME_TARGET to the proxied hostname in the SaaS zone that customers "
            "point their CNAME at (for example customers.<your zone>).",
        )
    if not _HOSTNAME.match(target):
        return Finding(
            PROBLEM,
            "CNAME target",
            f"DCV_CNAME_TARGET {target!r} is not a hostname",
            "Use a bare hostname such as customers.<your zone>: no scheme, path or port.",
        )
    return Finding(OK, "CNAME target", f"customers will CNAME their hostnames to {target}")


def _check_token_and_zone(client: CloudflareClient) -> list[Finding]:
    zone = settings.CLOUDFLARE_ZONE_ID
    try:
        page = next(client.iter_pages(per_page=5, priority="user"), None)
    except CloudflareAuthError as exc:
        if 10000 in exc.codes:
            return [
                Finding(
                    PROBLEM,
                    "token",
                    f"Cloudflare refused the token for zone {zone} ({exc})",
                    "The token is valid but may not use this zone: " + ZONE_ADVICE,
                )
            ]
        return [
            Finding(PROBLEM, "token", f"Cloudflare rejected the token ({exc})", CREDENTIALS_ADVICE)
        ]
    except CloudflarePermanentError as exc:
        if set(exc.codes) & ROUTING_CODES or exc.status == 404:
            return [
                Finding(OK, "token", "accepted"),
                Finding(
                    PROBLEM, "zone", f"Cloudflare does not know zone {zone} ({exc})", ZONE_ADVICE
                ),
            ]
        return [Finding(PROBLEM, "token and zone", f"listing custom hostnames failed ({exc})")]
    except CloudflareRateLimitedError as exc:
        wait = f"{exc.retry_after:.0f} seconds" if exc.retry_after else "a few minutes"
        return [
            Finding(
                PROBLEM,
                "token",
                f"not checked: Cloudflare's rate limit is spent ({exc})",
                f"Wait {wait} and run this again; if it keeps happening, something else is "
                "using the same token heavily.",
            )
        ]
    except CloudflareTransientError as exc:
        base = settings.CLOUDFLARE_API_BASE
        advice = (
            "Check outbound network access to api.cloudflare.com and "
            "https://www.cloudflarestatus.com, then run this again."
        )
        if not base.startswith("https://api.cloudflare.com/"):
            advice = (
                f"Check that {base} is up: for the local simulator run "
                "`python manage.py sandbox_cloudflare` (or `make run`), then run this again."
            )
        return [
            Finding(PROBLEM, "connection", f"could not get an answer from {base} ({exc})", advice)
        ]
    count = "no custom hostnames yet"
    if page is not None:
        total = page.total_count if page.total_count is not None else len(page.items)
        count = f"{total} custom hostname(s)"
    return [
        Finding(OK, "token", "accepted"),
        Finding(OK, "zone", f"{zone} is reachable ({count})"),
    ]


def _check_fallback_origin(client: CloudflareClient) -> Finding:
    try:
        fallback = client.get_fallback_origin()
    except CloudflareError as exc:
        return Finding(PROBLEM, "fallback origin", f"could not be read ({exc})")
    if fallback is None:
        return Finding(
            PROBLEM,
            "fallback origin",
            "none is set, so no custom hostname can become active",
            FALLBACK_ADVICE,
        )
    errors = f"; Cloudflare reports: {'; '.join(fallback.errors)}" if fallback.errors else ""
    name = f"fallback origin {fallback.origin}"
    if fallback.status == FallbackOriginStatus.ACTIVE:
        return Finding(OK, "fallback origin", f"{fallback.origin} is active{errors}")
    if fallback.status in (
        FallbackOriginStatus.INITIALIZING,
        FallbackOriginStatus.PENDING_DEPLOYMENT,
    ):
        return Finding(
            PROBLEM,
            name,
            f"is {fallback.status}: Cloudflare is still deploying it{errors}",
            "Wait a few minutes and run this again; custom hostnames cannot go active until "
            "it is active. If it stays like this, check the record is proxied (orange cloud).",
        )
    if fallback.status == FallbackOriginStatus.DEPLOYMENT_TIMED_OUT:
        return Finding(
            PROBLEM,
            name,
            f"deployment timed out{errors}",
            "Check the record exists in the SaaS zone and is proxied, then set the fallback "
            "origin again. " + FALLBACK_ADVICE,
        )
    return Finding(
        PROBLEM,
        name,
        f"is {fallback.status or 'in an unknown state'}, not active{errors}",
        FALLBACK_ADVICE,
    )


def _check_quota(client: CloudflareClient) -> Finding:
    try:
        quota = client.get_quota()
    except CloudflareError as exc:
        return Finding(
            WARN,
            "quota",
            f"could not be read ({exc})",
            "Check the custom hostname usage under SSL/TLS > Custom Hostnames in the dashboard.",
        )
    cap = f", hard cap {quota.hard_cap}" if quota.hard_cap else ""
    detail = f"{quota.used} used of {quota.allocated} included{cap}"
    if quota.hard_cap and quota.used >= quota.hard_cap:
        return Finding(
            PROBLEM,
            "quota",
            detail + ": the hard cap is reached, new hostnames are refused",
            "Delete custom hostnames nobody uses, or ask Cloudflare to raise the cap.",
        )
    if quota.hard_cap and quota.used >= 0.9 * quota.hard_cap:
        return Finding(
            WARN,
            "quota",
            detail + ": close to the hard cap",
            "Plan for more room: delete unused hostnames or ask Cloudflare to raise the cap.",
        )
    if quota.exceeded or (quota.allocated and quota.used >= quota.allocated):
        return Finding(
            WARN,
            "quota",
            detail + ": past the included allocation, each extra hostname is billed",
        )
    return Finding(OK, "quota", detail)


def _check_origins(client: CloudflareClient) -> list[Finding]:
    """Tenant origins need DNS Write on the zone (a record per origin) and the zone's custom
    origin server entitlement, which Cloudflare only reveals when it is used (1414)."""
    name = (
        f"dcvaas-check-{secrets.token_hex(4)}.{settings.CLOUDFLARE_ORIGINS_SUBDOMAIN}."
        f"{settings.CLOUDFLARE_ZONE_NAME}"
    )
    findings: list[Finding] = []
    try:
        # A marked record written and removed at once: only a write shows write permission.
        record = client.dns_record_create(
            type_="CNAME",
            name=name,
            content=cname_target(),
            comment="dcvaas:check",
            priority="user",
        )
        client.dns_record_delete(record.id, priority="user")
        findings.append(
            Finding(OK, "DNS records", f"the token can write records in {name.split('.', 1)[1]}")
        )
    except (CloudflareAuthError, CloudflareOriginRejectedError, CloudflarePermanentError) as exc:
        findings.append(
            Finding(
                PROBLEM,
                "DNS records",
                f"the token cannot write DNS records in the zone ({exc})",
                "Give the token Zone > DNS > Edit on the SaaS zone (origins are DNS records), "
                "and check CLOUDFLARE_ZONE_NAME and CLOUDFLARE_ORIGINS_SUBDOMAIN.",
            )
        )
    except CloudflareError as exc:
        findings.append(Finding(WARN, "DNS records", f"not checked ({exc})"))
    refused = ZoneEntitlement.objects.filter(pk=1, custom_origins_refused_at__isnull=False).first()
    using = Domain.objects.exclude(origin_applied="").count()
    if refused is not None:
        findings.append(
            Finding(
                WARN,
                "custom origins",
                f"Cloudflare refused them on {refused.custom_origins_refused_at:%Y-%m-%d %H:%M} "
                f"UTC ({refused.custom_origins_message}); domains are served from the fallback "
                "origin",
                "Ask Cloudflare to enable custom origin servers for the zone, then use the "
                "admin's Zone entitlements > “Try custom origins again”.",
            )
        )
    elif using:
        findings.append(
            Finding(OK, "custom origins", f"the zone has them: {using} hostname(s) use one")
        )
    else:
        findings.append(
            Finding(
                WARN,
                "custom origins",
                "not known yet: Cloudflare says whether the zone may use them only when a "
                "hostname first gets one (error 1414 if not; DCVaaS then keeps serving from the "
                "fallback origin and says so)",
            )
        )
    return findings


def _check_push(client: CloudflareClient) -> Finding:
    """Whether Cloudflare tells us about certificate events (else the sync loop alone does)."""
    if not settings.CLOUDFLARE_WEBHOOK_SECRET:
        return Finding(
            WARN,
            "push",
            "off (CLOUDFLARE_WEBHOOK_SECRET is empty): domains are noticed by the sync loop "
            "alone, within minutes rather than seconds",
            "Set CLOUDFLARE_WEBHOOK_SECRET and CLOUDFLARE_ACCOUNT_ID, then run `manage.py "
            "cloudflare_notifications setup --url https://<your site>/webhooks/cloudflare`.",
        )
    try:
        status = push_status(client)
    except ImproperlyConfigured as exc:
        return Finding(WARN, "push", f"not checked: {exc}")
    except (CloudflareError, PushSetupError) as exc:
        return Finding(
            WARN,
            "push",
            f"not checked: Cloudflare refused the Notifications API ({exc})",
            "Give the token Account > Notifications > Edit (name unconfirmed upstream).",
        )
    if status.configured:
        return Finding(OK, "push", status.summary.replace("\n", "; "))
    return Finding(WARN, "push", status.summary.replace("\n", "; "))
