from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple, TypedDict, cast

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts.access import organization_required
from accounts.caching import cached, organization_key
from accounts.models import Membership, Organization
from billing.models import Subscription
from billing.plans import organization_entitlements
from domains.access import get_domain_or_404
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


def _rows(page: Page, detail_base: str) -> list[DomainRow]:
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
    """Rows whose number is already known: the paginator slices them and counts nothing."""

    def __init__(self, rows: QuerySet[Domain, tuple[Any, ...]], count: int) -> None:
        self.rows, self.number = rows, count

    def count(self) -> int:
        return self.number

    def __getitem__(self, index: slice) -> QuerySet[Domain, tuple[Any, ...]]:
        return self.rows[index]


def _list_context(request: HttpRequest, membership: Membership) -> dict[str, object]:
    organization = membership.organization
    summary = cached(
        organization_key(organization, "domain-summary"), lambda: _summary(organization)
    )
    total = sum(summary.counts.values())
    status = request.GET.get("status", "")
    domains = (
        Domain.objects.filter(organization=organization)
        .values_list("id", "hostname", "status", "certificate_expires_at", "created_at")
        .order_by("hostname")
    )
    if status:
        domains = domains.filter(status=status)
    count = summary.counts.get(status, 0) if status else total
    rows = cast(Any, _Counted(domains, count))
    page: Page[tuple[Any, ...]] = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))

    def render_list() -> str:
        # Reversed once, not once a row: {% url %} costs ~60 µs a call, 3 ms on a full page.
        base = reverse("domains:detail", args=[_ZERO_UUID]).removesuffix(f"{_ZERO_UUID}/")
        context = {
            "page": page,
            "rows": _rows(page, base),
            "status_filter": status,
            "has_domains": total > 0,  # else the empty state; a filter may match none
        }
        return render_to_string("domains/dashboard.html#domain-list", context)

    if status and status not in DomainStatus.values:
        domain_list = render_list()  # a made-up status is not worth a cache entry
    else:
        zone = timezone.get_current_timezone_name()  # the dates are local
        key = organization_key(organization, "domain-list", status, page.number, zone)
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
    domain = get_domain_or_404(membership, domain_id)
    context = _detail_context(membership, domain)
    context["events"] = domain.events.all()[:50]
    return render(request, "domains/detail.html", context)


@organization_required
def domain_status(
    request: HttpRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """The status block that a pending domain's page polls; 286 stops polling once settled."""
    domain = get_domain_or_404(membership, domain_id)
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
    domain = get_domain_or_404(membership, domain_id)
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
    domain = get_domain_or_404(membership, domain_id)
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
