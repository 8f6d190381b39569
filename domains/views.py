from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple, TypedDict, cast

from django.conf import settings
from django.contrib import messages
from django.core.cache import cache
from django.core.paginator import Page, Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts.access import organization_required
from accounts.caching import cached, organization_key, remember
from accounts.models import Membership, Organization
from billing.models import Subscription
from billing.plans import organization_entitlements
from domains.access import domain_key, get_domain_or_404, read_domain_or_404
from domains.explain import explain
from domains.forms import DomainForm
from domains.models import Domain, DomainStatus
from domains.services import DomainError, domain_check_now, domain_delete, domain_register

PAGE_SIZE = 50
_ZERO_UUID = uuid.UUID(int=0)


class DomainRow(TypedDict):
    """One line of the dashboard's table, every value ready to print."""

    url: str
    hostname: str
    status: str
    status_label: str
    certificate_until: str  # "" when there is no certificate
    added: str


_STATUS_LABELS = dict(DomainStatus.choices)


def _day(moment: datetime) -> str:
    return timezone.localtime(moment).date().isoformat()


def _rows(page: Iterable[tuple[Any, ...]], detail_base: str) -> list[DomainRow]:
    # Plain values, not models and template filters: rendered with `|date` and
    # `get_status_display`, 50 rows cost 3 ms, more than everything else on the page.
    return [
        {
            "url": f"{detail_base}{pk}/",
            "hostname": hostname,
            "status": status,
            "status_label": _STATUS_LABELS.get(status, status),
            "certificate_until": _day(expires) if expires else "",
            "added": _day(created),
        }
        for pk, hostname, status, expires, created in page
    ]


class ListSummary(NamedTuple):
    """What the dashboard shows above its table, cached under the organization's version."""

    counts: dict[str, int]  # domains per status
    subscription: Subscription | None


def _summary(organization: Organization) -> ListSummary:
    counts = (
        Domain.objects.filter(organization=organization)
        .values_list("status")
        .annotate(count=Count("pk"))
        .order_by()
    )
    return ListSummary(dict(counts), getattr(organization, "subscription", None))


class _Counted:
    """What the paginator pages through: only the number of rows, known already. A page's
    `object_list` is then the slice of rows it covers, to read only when it is rendered."""

    def __init__(self, count: int) -> None:
        self.number = count

    def count(self) -> int:
        return self.number

    def __getitem__(self, rows: slice) -> slice:
        return rows


def _list_context(request: HttpRequest, membership: Membership) -> dict[str, object]:
    organization = membership.organization
    status = request.GET.get("status", "")
    requested_page = request.GET.get("page")
    zone = timezone.get_current_timezone_name()  # the list's dates are local

    def list_key(number: int) -> str:
        return organization_key(organization, "domain-list", status, number, zone)

    # The usual look (the first page) takes one cache round trip for the summary and the list.
    summary_key = organization_key(organization, "domain-summary")
    wanted = [summary_key, list_key(1)] if requested_page in (None, "1") else [summary_key]
    found = cache.get_many(wanted)
    summary: ListSummary = found.get(summary_key) or remember(summary_key, _summary(organization))
    total = sum(summary.counts.values())
    count = summary.counts.get(status, 0) if status else total
    page: Page[Any] = Paginator(cast(Any, _Counted(count)), PAGE_SIZE).get_page(requested_page)

    def render_list() -> str:
        domains = (
            Domain.objects.filter(organization=organization)
            .values_list("id", "hostname", "status", "certificate_expires_at", "created_at")
            .order_by("hostname")
        )
        if status:
            domains = domains.filter(status=status)
        # Reversed once, not once a row: {% url %} costs ~60 µs a call, 3 ms on a full page.
        base = reverse("domains:detail", args=[_ZERO_UUID]).removesuffix(f"{_ZERO_UUID}/")
        context = {
            "page": page,
            "rows": _rows(domains[cast(slice, page.object_list)], base),
            "status_filter": status,
            "has_domains": total > 0,  # else the empty state; a filter may match none
        }
        return render_to_string("domains/dashboard.html#domain-list", context)

    key = list_key(page.number)
    if status and status not in DomainStatus.values:
        domain_list = render_list()  # a made-up status is not worth a cache entry
    elif key in wanted:
        domain_list = found.get(key) or remember(key, render_list())
    else:
        domain_list = cached(key, render_list)
    entitlements = organization_entitlements(
        organization, domain_count=total, subscription=summary.subscription
    )
    return {
        "membership": membership,
        "organization": organization,
        "domain_list": domain_list,  # a SafeString from the template engine, cached as one
        "entitlements": entitlements,
        "cname_target": settings.DCV_CNAME_TARGET,
    }


@organization_required
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The organization's domains, plan usage and the add form."""
    context = _list_context(request, membership)
    if request.htmx and request.GET.get("fragment") == "list":  # type: ignore[attr-defined]
        return HttpResponse(context["domain_list"])
    context["form"] = DomainForm()
    return render(request, "domains/dashboard.html", context)


@require_POST
@organization_required
def domain_add(request: HttpRequest, membership: Membership) -> HttpResponse:
    """Add a domain. With htmx, errors come back inline next to the field."""
    form = DomainForm(request.POST)
    if form.is_valid():
        try:
            registration = domain_register(
                organization=membership.organization,
                hostname=form.cleaned_data["hostname"],
                actor=request.user,  # type: ignore[arg-type]
            )
        except DomainError as error:
            form.add_error("hostname", error.message)
        else:
            domain = registration.domain
            if registration.hostname.is_apex:
                messages.warning(
                    request,
                    f"{domain.hostname} is an apex domain. Most DNS providers cannot put a "
                    "CNAME there; use a provider with CNAME flattening or ALIAS records, or "
                    f"add a subdomain like www.{domain.hostname} instead.",
                )
            messages.success(request, f"Added {domain.hostname}. Now create the DNS record below.")
            url = reverse("domains:detail", args=[domain.pk])
            if request.htmx:  # type: ignore[attr-defined]
                return HttpResponseClientRedirect(url)
            return redirect(url)
    context = _list_context(request, membership)
    context["form"] = form
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "domains/dashboard.html#add-form", context)
    return render(request, "domains/dashboard.html", context, status=400)


def _detail_context(membership: Membership, domain: Domain) -> dict[str, object]:
    target = settings.DCV_CNAME_TARGET
    host = domain.dns_records[0]["host"] if domain.dns_records else ""
    return {
        "membership": membership,
        "domain": domain,
        # The zone at the customer's DNS provider: client.com for app.client.com.
        "zone": domain.hostname.removeprefix(host + ".") if host not in ("", "@") else "",
        "explanation": explain(domain, target=target),
        "cname_target": target,
        "poll_seconds": 3,
    }


@organization_required
def domain_detail(
    request: HttpRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    organization = membership.organization
    time_zone = timezone.get_current_timezone_name()  # the history's times are local
    # The domain and the rendered records and history, in one cache round trip.
    keys = (
        domain_key(organization, domain_id),
        organization_key(organization, "domain-body", str(domain_id), time_zone),
    )
    found = cache.get_many(keys)
    domain: Domain = found.get(keys[0]) or remember(
        keys[0], get_domain_or_404(organization.pk, domain_id)
    )
    context = _detail_context(membership, domain)

    def render_body() -> str:
        body = {**context, "events": domain.events.all()[:50]}
        return render_to_string("domains/detail.html#domain-body", body)

    context["domain_body"] = found.get(keys[1]) or remember(keys[1], render_body())
    return render(request, "domains/detail.html", context)


@organization_required
def domain_status(
    request: HttpRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """The status block that a pending domain's page polls; 286 stops polling once settled."""
    domain = read_domain_or_404(membership.organization, domain_id)
    response = render(request, "domains/detail.html#status", _detail_context(membership, domain))
    if domain.is_settled:
        stop = HttpResponseStopPolling(response.content)
        return stop
    return response


@require_POST
@organization_required
def domain_check(
    request: HttpRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Check now: our own DNS lookup plus a Cloudflare re-validation."""
    domain = get_domain_or_404(membership.organization_id, domain_id)
    context = _detail_context(membership, domain)
    try:
        result = domain_check_now(domain=domain, actor=request.user)  # type: ignore[arg-type]
    except DomainError as error:
        context["check_error"] = error.message
    else:
        context = _detail_context(membership, result.domain)
        context["check"] = result
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "domains/detail.html#status", context)
    if "check" in context:
        messages.info(request, context["check"].dns.message)  # type: ignore[attr-defined]
    else:
        messages.warning(request, str(context["check_error"]))
    return redirect("domains:detail", domain_id=domain.pk)


@require_http_methods(["GET", "POST"])
@organization_required
def domain_remove(
    request: HttpRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Confirm, then offboard from Cloudflare. A failure leaves it `deleting`, retried later."""
    domain = get_domain_or_404(membership.organization_id, domain_id)
    if request.method == "GET":
        return render(request, "domains/remove.html", {"domain": domain, "membership": membership})
    remaining = domain_delete(domain=domain, actor=request.user)  # type: ignore[arg-type]
    if remaining is None:
        messages.success(request, f"Removed {domain.hostname}. Its slot in your plan is free.")
    else:
        messages.warning(
            request,
            f"{domain.hostname} is being removed; Cloudflare did not confirm yet and we keep "
            "retrying on our own.",
        )
    return redirect("dashboard")
