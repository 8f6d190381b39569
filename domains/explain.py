"""Cloudflare's states and errors, in words a customer can act on.

Everything here is derived from what is stored on the domain (Cloudflare's raw values), so the
wording can improve without a data migration.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domains.models import Domain, DomainStatus

# Cloudflare's verification error strings (CONTRACT §5.3), matched by a stable fragment.
_VERIFICATION = (
    (
        "does not cname to this zone",
        "The CNAME record is missing or points somewhere else. Create a CNAME record for "
        "{host} with the value {target} at the DNS provider.",
    ),
    (
        "none of the a or aaaa records are owned by this account",
        "{host} points at addresses Cloudflare doesn't know. Replace any A or AAAA records "
        "for {host} with a CNAME record to {target}.",
    ),
    (
        "zone does not have a fallback origin",
        "Our side is not ready (the Cloudflare fallback origin is missing). We've been "
        "alerted; nothing for your customer to do.",
    ),
    (
        "is using cloudflare and cannot be activated with an txt or http validation token",
        "{host} is itself on Cloudflare, so only the CNAME can prove ownership. Point the "
        "CNAME for {host} at {target} (proxy status: DNS only is fine).",
    ),
    (
        "associated with a held zone",
        "The domain owner's Cloudflare account holds this zone. Ask them to release the hold "
        "(Cloudflare dashboard → zone → Overview), then press Check now.",
    ),
)

_VALIDATION = (
    (
        "caa",
        "A CAA record on the domain forbids the certificate authorities Cloudflare uses. Add "
        'CAA records allowing "pki.goog", "letsencrypt.org" and "ssl.com", or remove the '
        "CAA records.",
    ),
    (
        "servfail",
        "The domain's nameservers failed to answer (SERVFAIL). Ask the DNS provider to fix "
        "the zone; DNSSEC problems are the usual cause.",
    ),
    (
        "potential risk",
        "The certificate authority flagged the hostname as risky and will not issue a "
        "certificate. Contact support.",
    ),
)


# Which step of the certificate ran out of time, and what starts it again.
_TIMEOUTS = {
    "validation_timed_out": (
        "Certificate validation timed out",
        "Press Check now to restart validation once the DNS record is in place.",
    ),
    "initializing_timed_out": (
        "Ordering the certificate timed out",
        "Press Check now to order it again.",
    ),
    "issuance_timed_out": (
        "Issuing the certificate timed out",
        "The certificate authority did not issue in time. Press Check now to order it again; "
        "if it times out again, contact support.",
    ),
    "deployment_timed_out": (
        "Deploying the certificate timed out",
        "Cloudflare did not finish deploying it. Press Check now to try again; if it times "
        "out again, contact support.",
    ),
}


@dataclass(frozen=True)
class Explanation:
    headline: str
    next_step: str
    problems: tuple[str, ...] = field(default_factory=tuple)


def _translate(message: str, table: tuple[tuple[str, str], ...], host: str, target: str) -> str:
    lowered = message.lower()
    for fragment, text in table:
        if fragment in lowered:
            return text.format(host=host, target=target)
    return f"Cloudflare says: “{message}”"


def explain(domain: Domain, *, target: str) -> Explanation:
    """What is going on with `domain` and what happens next, in plain words."""
    host = domain.hostname
    problems = tuple(
        dict.fromkeys(
            [_translate(m, _VERIFICATION, host, target) for m in domain.verification_errors]
            + [_translate(m, _VALIDATION, host, target) for m in domain.validation_errors]
        )
    )
    cf, ssl = domain.cloudflare_status, domain.ssl_status
    if domain.status == DomainStatus.DELETING:
        return Explanation(
            "Being removed",
            "We are removing it from Cloudflare; it disappears from this list once that is done.",
            problems,
        )
    if domain.status == DomainStatus.REGISTERING:
        step = "We are registering it with Cloudflare and will keep retrying on our own."
        if domain.last_error:
            step = (
                "Cloudflare did not answer the registration yet; we keep retrying on our own. "
                "Your customer can create the DNS record meanwhile."
            )
        return Explanation("Registering", step, problems)
    if domain.status == DomainStatus.ACTIVE:
        return Explanation(
            "Active: HTTPS works",
            "Cloudflare renews the certificate on its own. Keep the CNAME record in place.",
            problems,
        )
    if cf == "blocked":
        return Explanation(
            "Blocked by Cloudflare",
            "Cloudflare will not serve this hostname until the cause is removed. "
            "Then press Check now.",
            problems
            or ("Cloudflare flagged the hostname or its zone. Contact support if unsure why.",),
        )
    if cf == "moved":
        return Explanation(
            "Stopped: the hostname no longer points to us",
            f"Point the CNAME for {host} at {target} again, then press Check now.",
            problems,
        )
    if ssl in _TIMEOUTS:
        headline, step = _TIMEOUTS[ssl]
        return Explanation(headline, step, problems)
    if ssl.endswith("_timed_out"):
        return Explanation(
            "Cloudflare stopped trying: a step of the certificate timed out",
            "Press Check now to start again.",
            problems,
        )
    if ssl == "expired":
        return Explanation(
            "The certificate has expired: HTTPS fails",
            f"Cloudflare could not renew it. Check that the CNAME for {host} still points to "
            f"{target} and that no CAA record forbids Cloudflare's certificate authorities, "
            "then press Check now.",
            problems,
        )
    if domain.status == DomainStatus.FAILED and problems:
        return Explanation(
            "Action needed: the certificate cannot be issued",
            f"Fix what is listed below at the DNS provider of {host}, then press Check now.",
            problems,
        )
    if cf in ("deleted", "pending_deletion"):
        return Explanation(
            "Removed at Cloudflare",
            "Cloudflare no longer serves this hostname; the next check registers it again. "
            "Press Check now to do it right away.",
            problems,
        )
    if cf == "active":
        steps = {
            "pending_validation": "Validating the certificate",
            "pending_issuance": "The certificate is being issued",
            "pending_deployment": "The certificate is being deployed",
        }
        headline = steps.get(ssl, "The certificate is on its way")
        return Explanation(
            headline,
            "Nothing to do: this usually takes a few minutes. This page updates by itself.",
            problems,
        )
    if domain.activated_at is not None and not problems:
        # It was active before: Cloudflare lost the hostname and it was registered again, or
        # it is validating anew. The customer's record is most likely still in place.
        return Explanation(
            "Being validated again",
            f"Cloudflare is checking {host} anew. If the CNAME still points to {target}, there "
            "is nothing to do: it turns active again within minutes.",
            problems,
        )
    return Explanation(
        "Waiting for the DNS record",
        f"Once the CNAME for {host} points to {target}, Cloudflare validates it, usually within "
        "minutes (it checks less often as time passes; Check now asks it to look right away).",
        problems,
    )
