"""The hand-off page (no sign-in: the link is the key) and the domain page's controls."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import SignedInRequest, organization_required
from accounts.models import Membership, Organization
from accounts.roles import Action, ensure
from dcvaas.middleware import allow_https_images
from dcvaas.throttling import Rate, client_ip, hit
from domains.access import get_domain_or_404
from domains.errors import DomainError
from domains.explain import explain
from domains.guide import (
    REFRESHING_EVENTS,
    deadline_context,
    dns_guide,
    last_refresh,
    record_rows,
    shown_records,
)
from domains.handoffs import emails
from domains.handoffs.services import (
    handoff_check,
    handoff_create,
    handoff_open,
    handoff_revoke,
    handoff_url,
)
from domains.models import DnsCheck, DnsHostDetection, Handoff
from domains.services import CheckResult


def _private(response: HttpResponse) -> HttpResponse:
    """The link is a secret: never cached, never indexed, never sent on as a referrer."""
    patch_cache_control(response, no_store=True, private=True)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _throttled(request: HttpRequest, handoff: Handoff) -> int | None:
    """Seconds to wait before "Check my records" may run again for this link or address."""
    for scope, ident, setting in (
        ("handoff-link", str(handoff.pk), "HANDOFF_CHECK_RATE_PER_LINK"),
        ("handoff-ip", client_ip(request), "HANDOFF_CHECK_RATE_PER_IP"),
    ):
        wait = hit(scope, ident, Rate.parse(str(getattr(settings, setting)), setting=setting))
        if wait is not None:
            return wait
    return None


# No CSRF check: the secret in the URL is what authorises the page, and its one POST only runs
# a (throttled) check. The check could not pass anyway: under `Referrer-Policy: no-referrer`
# browsers send `Origin: null` with the form.
@csrf_exempt
@require_http_methods(["GET", "POST"])
@allow_https_images()  # the organization's logo
def handoff_page(request: HttpRequest, token: str) -> HttpResponse:
    """What whoever manages the domain's DNS needs: the records in their DNS host's words, the
    domain's status, a check of their work, the deadline. Nothing else of the organization."""
    handoff = handoff_open(token)
    if handoff is None:
        raise Http404("This link does not work (any more). Ask for a new one.")
    domain = handoff.domain
    check: CheckResult | None = None
    check_error = ""
    if request.method == "POST":
        wait = _throttled(request, handoff)
        if wait is not None:
            check_error = f"Checked several times already: try again in {wait} seconds."
        else:
            try:
                check = handoff_check(handoff=handoff)
            except DomainError as error:
                check_error = error.message
            else:
                domain = check.domain
    target = settings.DCV_CNAME_TARGET
    detection = DnsHostDetection.objects.filter(domain=domain).first()
    guide = dns_guide(domain, detection, chosen=request.GET.get("dns_host", ""), target=target)
    dns_check = check.records if check is not None else None
    if dns_check is None:
        dns_check = DnsCheck.objects.filter(domain=domain).first()
    refreshed = last_refresh(
        domain.events.filter(kind__in=REFRESHING_EVENTS).order_by("-created_at")[:1]
    )
    response = render(
        request,
        "handoffs/page.html",
        {
            "handoff": handoff,
            "domain": domain,
            "asked_by": domain.organization.name,
            "explanation": explain(domain, target=target),
            "records": shown_records(domain, detection, guide.host)[0],
            "guide": guide,
            "check": check,
            "dns_check": dns_check,
            "record_checks": record_rows(dns_check),
            "check_error": check_error,
            "cname_target": target,
            **deadline_context(domain, refreshed),
        },
        status=429 if check_error.startswith("Checked several") else 200,
    )
    return _private(response)


@require_POST
@organization_required
def handoff_new(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Make a link; its URL is shown once, in this answer."""
    ensure(membership, Action.HANDOFF_LINKS)
    domain = get_domain_or_404(membership.organization_id, domain_id)
    try:
        handoff, raw = handoff_create(
            domain=domain, actor=request.user, email=request.POST.get("email", "")
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("domains:detail", domain_id=domain.pk)
    if handoff.recipient_email:
        messages.success(
            request,
            f"Emailed the instructions to {handoff.recipient_email}; reminders follow until "
            f"{domain.unicode_hostname} is active.",
        )
    response = render(
        request,
        "handoffs/created.html",
        {"membership": membership, "domain": domain, "handoff": handoff, "url": handoff_url(raw)},
    )
    return _private(response)


@require_POST
@organization_required
def handoff_revoke_view(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID, handoff_id: uuid.UUID
) -> HttpResponse:
    ensure(membership, Action.HANDOFF_LINKS)
    domain = get_domain_or_404(membership.organization_id, domain_id)
    handoff = get_object_or_404(Handoff, pk=handoff_id, domain=domain)
    handoff_revoke(handoff=handoff)
    messages.success(request, "The link no longer works.")
    return redirect("domains:detail", domain_id=domain.pk)


@csrf_exempt  # one click in a mail client posts without our form (RFC 8058)
@require_http_methods(["GET", "POST"])
def handoff_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """No more DNS emails from one organization to one address: a button (GET, so a link
    scanner opening it changes nothing), or the mail client's one-click POST."""
    target = emails.unsubscribe_target(token)
    if target is None:
        raise Http404("This unsubscribe link does not work.")
    organization_id, email = target
    organization = get_object_or_404(Organization, pk=organization_id)
    done = request.method == "POST"
    if done:
        emails.unsubscribe(organization_id, email)
    response = render(
        request,
        "handoffs/unsubscribe.html",
        {"email": email, "organization": organization, "done": done},
    )
    return _private(response)
