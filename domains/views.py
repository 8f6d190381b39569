from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import tzinfo

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseStopPolling

from accounts.access import SignedInRequest, organization_required
from accounts.models import Membership, Organization
from accounts.roles import Action, ensure
from billing.models import Subscription
from billing.plans import organization_entitlements
from domains.access import get_domain_or_404
from domains.errors import DomainError
from domains.explain import explain
from domains.forms import DomainForm, DomainOriginForm
from domains.guide import (
    deadline_context,
    dns_guide,
    last_refresh,
    record_rows,
    shown_records,
)
from domains.models import (
    DnsCheck,
    DnsHostDetection,
    Domain,
    DomainEvent,
    DomainStatus,
    Handoff,
    Origin,
    OriginState,
    ZoneEntitlement,
)
from domains.origins.services import domain_set_origin
from domains.services import domain_check_now, domain_delete, domain_register

PAGE_SIZE = 50
HISTORY_LENGTH = 50  # the newest events a domain's page shows


def _list_context(request: SignedInRequest, membership: Membership) -> dict[str, object]:
    """The dashboard: plan usage and one page of the organization's domains."""
    organization = membership.organization
    status = request.GET.get("status", "")
    domains = (
        Domain.objects.filter(organization=organization)
        .only("id", "hostname", "status", "certificate_expires_at", "created_at")
        .order_by("hostname")
    )
    shown = domains.filter(status=status) if status else domains
    # The counts, the subscription and whether there are origins to choose from, in one query;
    # the paginator is given its count rather than asking for it again.
    of_organization = Domain.objects.filter(organization=OuterRef("pk"))
    counts: dict[str, Coalesce] = {"domain_count": _count(of_organization)}
    if status:
        counts["shown_count"] = _count(of_organization.filter(status=status))
    overview = (
        Organization.objects.filter(pk=organization.pk)
        .select_related("subscription")
        .annotate(
            **counts,
            has_origins=Exists(
                Origin.objects.filter(organization=OuterRef("pk")).exclude(
                    state=OriginState.DELETING
                )
            ),
        )
        .get()
    )
    # Annotations, which the type checker cannot see on the model:
    total: int = overview.domain_count  # type: ignore[attr-defined]
    shown_count: int = overview.shown_count if status else total  # type: ignore[attr-defined]
    has_origins: bool = overview.has_origins  # type: ignore[attr-defined]
    page = CountedPaginator(shown, PAGE_SIZE, count=shown_count).get_page(request.GET.get("page"))
    subscription: Subscription | None = getattr(overview, "subscription", None)
    return {
        "membership": membership,
        "organization": organization,
        "page": page,
        "rows": _rows(page.object_list),
        "status_filter": status,
        "has_domains": total > 0,  # else the empty state; a filter may match none
        "entitlements": organization_entitlements(
            organization, domain_count=total, subscription=subscription
        ),
        "cname_target": settings.DCV_CNAME_TARGET,
        "origins": _origins(membership) if has_origins else [],
    }


def _count(domains: QuerySet[Domain]) -> Coalesce:
    """How many of `domains` (filtered on an outer organization), as a subquery."""
    counted = domains.order_by().values("organization").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


class CountedPaginator(Paginator[Domain]):
    """A paginator told its count by a query that had to run anyway."""

    def __init__(self, object_list: QuerySet[Domain], per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self._known_count = count

    @cached_property
    def count(self) -> int:
        return self._known_count


_ANY_ID = uuid.UUID(int=0)


def _rows(domains: Iterable[Domain]) -> list[dict[str, object]]:
    """The dashboard table's lines, prepared here: the template engine's lookups, URL tag and
    date filter cost about as much per row as the page's queries. The domain page's URL is
    reversed once and each row's id put in it (a `reverse` per row was a tenth of the page),
    and the time zone is looked up once."""
    url = reverse("domains:detail", args=[_ANY_ID])
    zone = timezone.get_current_timezone()
    return [_row(domain, url.replace(str(_ANY_ID), str(domain.pk)), zone) for domain in domains]


def _row(domain: Domain, url: str, zone: tzinfo) -> dict[str, object]:
    expires = domain.certificate_expires_at
    unicode_hostname = domain.unicode_hostname
    return {
        "url": url,
        "hostname": domain.hostname,
        "unicode_hostname": unicode_hostname,
        # The ASCII form under an internationalised name ("" when they are the same).
        "ascii_hostname": domain.hostname if unicode_hostname != domain.hostname else "",
        "status": domain.status,
        "status_label": domain.status_label,
        "certificate": f"until {expires.astimezone(zone):%Y-%m-%d}" if expires else "—",
        "added": f"{domain.created_at.astimezone(zone):%Y-%m-%d}",
    }


def _origins(membership: Membership) -> list[Origin]:
    """The origins a domain may be served by (for the choosers)."""
    return list(
        Origin.objects.filter(organization_id=membership.organization_id).exclude(
            state=OriginState.DELETING
        )
    )


def _chosen(membership: Membership, form: DomainForm | DomainOriginForm) -> Origin | None:
    origin_id = form.cleaned_data.get("origin")
    if origin_id is None:
        return None
    origin = next((o for o in _origins(membership) if o.pk == origin_id), None)
    if origin is None:
        raise DomainError("unknown_origin", "Choose one of your origins.", field="origin")
    return origin


@organization_required
def dashboard(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """The organization's domains, plan usage and the add form."""
    context = _list_context(request, membership)
    if request.htmx and request.GET.get("fragment") == "list":
        return render(request, "domains/dashboard.html#domain-list", context)
    context["form"] = DomainForm()
    return render(request, "domains/dashboard.html", context)


@require_POST
@organization_required
def domain_add(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """Add a domain. With htmx, errors come back inline next to the field."""
    ensure(membership, Action.CHANGE_DOMAINS)
    form = DomainForm(request.POST)
    error_code = ""
    if form.is_valid():
        try:
            registration = domain_register(
                organization=membership.organization,
                hostname=form.cleaned_data["hostname"],
                actor=request.user,
                origin=_chosen(membership, form),
            )
        except DomainError as error:
            form.add_error("origin" if error.field == "origin" else "hostname", error.message)
            error_code = error.code
        else:
            domain = registration.domain
            if registration.hostname.is_apex:
                messages.warning(
                    request,
                    f"{domain.hostname} is an apex domain. Most DNS providers cannot put a "
                    "CNAME there; use a provider with CNAME flattening or ALIAS records, or "
                    f"add a subdomain like www.{domain.hostname} instead.",
                )
            messages.success(
                request, f"Added {domain.unicode_hostname}. Now create the DNS record below."
            )
            url = reverse("domains:detail", args=[domain.pk])
            if request.htmx:
                return HttpResponseClientRedirect(url)
            return redirect(url)
    context = _list_context(request, membership)
    context["form"] = form
    context["error_code"] = error_code
    if request.htmx:
        return render(request, "domains/dashboard.html#add-form", context)
    return render(request, "domains/dashboard.html", context, status=400)


def _detection(domain: Domain) -> DnsHostDetection | None:
    """The domain's DNS host detection, joined in by `get_domain_or_404(with_dns_host=True)`."""
    try:
        return domain.dns_host
    except DnsHostDetection.DoesNotExist:
        return None


def _dns_check(domain: Domain) -> DnsCheck | None:
    """The domain's last records check, joined in by `get_domain_or_404(with_dns_host=True)`."""
    try:
        return domain.dns_check
    except DnsCheck.DoesNotExist:
        return None


def _detail_context(
    membership: Membership,
    domain: Domain,
    *,
    chosen_host: str = "",
    poll: bool = False,
    origins: list[Origin] | None = None,
    origins_refusal: str | None = None,
) -> dict[str, object]:
    """What the domain page shows; `poll`: only what a poll or a check swaps in (no origins).
    `origins` and `origins_refusal`: the organization's origins and why they cannot be used
    now, if the caller has them."""
    target = settings.DCV_CNAME_TARGET
    if origins is None:
        origins = [] if poll else _origins(membership)
    if origins_refusal is None:
        origins_refusal = ZoneEntitlement.custom_origins_refusal() if origins else ""
    detection = _detection(domain)
    dns_check = _dns_check(domain)
    host = domain.dns_records[0]["host"] if domain.dns_records else ""
    active = domain.status == DomainStatus.ACTIVE
    guide = dns_guide(domain, detection, chosen=chosen_host, target=target)
    records, apex_mode = shown_records(domain, detection, guide.host)
    return {
        "membership": membership,
        "domain": domain,
        # The zone at the customer's DNS provider: client.com for app.client.com.
        "zone": domain.hostname.removeprefix(host + ".") if host not in ("", "@") else "",
        "explanation": explain(domain, target=target),
        "cname_target": target,
        "poll_seconds": 3,
        "shown": shown_state(domain, detection, dns_check),
        "guide": guide,
        "apex_mode": apex_mode,
        "dns_check": dns_check,
        "record_checks": record_rows(dns_check),
        # Once active, "in place" is said of what Cloudflare validated only (the required
        # records); an optional pre-validation record nobody may have created is not claimed.
        "records": [r for r in records if r["required"] or not active],
        "retired_records": [r for r in records if active and not r["required"]],
        "origins": origins,
        "serving": None if poll else domain.serving_origin(origins),
        "served_by": next((o for o in origins if o.record_name == domain.origin_applied), None),
        "origins_refusal": origins_refusal if origins else "",
    }


def shown_state(
    domain: Domain, detection: DnsHostDetection | None, dns_check: DnsCheck | None = None
) -> str:
    """What a domain page shows that a poll may have to replace beyond the status block: the
    status, the DNS records, the DNS host the instructions speak of and what DNS answers for
    the records. The polled block sends it back; a poll that finds it changed swaps the
    records section in (and announces a new status)."""
    shown = [
        domain.dns_records,
        detection.host if detection else None,
        dns_check.state if dns_check else None,
    ]
    digest = hashlib.blake2s(json.dumps(shown, sort_keys=True).encode(), digest_size=6)
    return f"{domain.status}:{digest.hexdigest()}"


def _status_update(
    request: SignedInRequest,
    context: dict[str, object],
    domain: Domain,
    shown: str,
    *,
    history_shown: str | None = None,
) -> str:
    """What a poll or a check swaps in out of band besides its own target: the history when
    it has a newer event than `history_shown` (the newest event the page has; None: always);
    the records section when they or the status changed since `shown`; the status
    announcement when the status did. Sets the context's `history_mark` for the polled block.

    A poll that finds nothing new (most of them: a pending page polls every few seconds)
    neither reads nor renders the history: its newest event is asked in the domain's query."""
    records_changed = shown != context["shown"]
    newest = getattr(domain, "newest_event", None)
    if history_shown is not None and not records_changed and history_shown == _mark(newest):
        context["history_mark"] = history_shown
        parts: list[str] = []
    else:
        events = list(domain.events.all()[:HISTORY_LENGTH])
        context.update(
            events=events,
            history_oob=True,
            records_oob=True,
            history_mark=_mark(events[0].pk if events else None),
            **deadline_context(domain, last_refresh(events)),
        )
        parts = [render_to_string("domains/detail.html#history", context, request)]
        if records_changed:
            parts.append(render_to_string("domains/detail.html#domain-body", context, request))
    if shown.partition(":")[0] != domain.status:
        context["announce"] = True
        parts.append(
            '<p id="status-announcement" hx-swap-oob="innerHTML">'
            + render_to_string("domains/detail.html#announcement", context, request)
            + "</p>"
        )
    return "".join(parts)


def _mark(event_id: int | None) -> str:
    """The newest event a page shows, as the polled block sends it back."""
    return "" if event_id is None else str(event_id)


@organization_required
def domain_detail(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    # Whether there are origins to choose from and hand-off links to list, asked in the
    # domain's own query: neither list costs a query of its own when it would be empty.
    now = timezone.now()
    domain = get_domain_or_404(
        membership.organization_id,
        domain_id,
        with_dns_host=True,
        queryset=Domain.objects.annotate(
            has_origins=Exists(
                Origin.objects.filter(organization=OuterRef("organization")).exclude(
                    state=OriginState.DELETING
                )
            ),
            origins_refused=Exists(
                ZoneEntitlement.objects.filter(pk=1, custom_origins_refused_at__isnull=False)
            ),
            has_handoffs=Exists(Handoff.objects.usable(now).filter(domain=OuterRef("pk"))),
        ),
    )
    has_origins: bool = domain.has_origins  # type: ignore[attr-defined]
    origins_refused: bool = domain.origins_refused  # type: ignore[attr-defined]
    context = _detail_context(
        membership,
        domain,
        chosen_host=request.GET.get("dns_host", ""),
        origins=_origins(membership) if has_origins else [],
        origins_refusal=ZoneEntitlement.NOT_ENTITLED if origins_refused else "",
    )
    events = list(domain.events.all()[:HISTORY_LENGTH])
    context["events"] = events
    context["history_mark"] = _mark(events[0].pk if events else None)
    context.update(deadline_context(domain, last_refresh(events)))
    context["handoffs"] = (
        Handoff.objects.usable(now).filter(domain=domain).select_related("created_by")[:10]
        if domain.has_handoffs  # type: ignore[attr-defined]
        else []
    )
    return render(request, "domains/detail.html", context)


@organization_required
def domain_status(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """The status block that a pending domain's page polls, with the history (and, when they
    changed, the records and an announcement) swapped in out of band; 286 stops polling once
    settled."""
    domain = get_domain_or_404(
        membership.organization_id,
        domain_id,
        with_dns_host=True,
        queryset=Domain.objects.annotate(
            newest_event=Subquery(
                DomainEvent.objects.filter(domain=OuterRef("pk"))
                .order_by("-created_at", "-id")
                .values("pk")[:1]
            )
        ),
    )
    # The reader's choice of DNS host rides along, so the records section keeps its steps.
    context = _detail_context(
        membership, domain, chosen_host=request.GET.get("dns_host", ""), poll=True
    )
    update = _status_update(
        request,
        context,
        domain,
        request.GET.get("shown", ""),
        history_shown=request.GET.get("history"),
    )
    content = render_to_string("domains/detail.html#status-poll", context, request) + update
    if domain.is_settled:
        return HttpResponseStopPolling(content)
    return HttpResponse(content)


@require_POST
@organization_required
def domain_check(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Check now: our own DNS lookup plus a Cloudflare re-validation."""
    ensure(membership, Action.CHANGE_DOMAINS)
    domain = get_domain_or_404(membership.organization_id, domain_id, with_dns_host=True)
    shown = shown_state(domain, _detection(domain), _dns_check(domain))
    try:
        result = domain_check_now(domain=domain, actor=request.user)
    except DomainError as error:
        context = _detail_context(membership, domain, poll=True)
        context["check_error"] = error.message
        notice = error.message
    else:
        domain = result.domain
        if result.records is not None:
            domain.dns_check = result.records
        context = _detail_context(membership, domain, poll=True)
        context["check"] = result
        notice = ""
    if request.htmx:
        # The verdict goes where the button's form points; the status block, the history and
        # what else changed come along, swapped in out of band.
        context["poll_oob"] = True
        update = _status_update(request, context, domain, shown)  # sets the history mark
        return HttpResponse(
            render_to_string("domains/detail.html#verdict", context, request)
            + render_to_string("domains/detail.html#status-poll", context, request)
            + update
        )
    if notice:
        messages.warning(request, notice)
    else:
        messages.info(request, result.dns.message)
    return redirect("domains:detail", domain_id=domain.pk)


@require_http_methods(["GET", "POST"])
@organization_required
def domain_remove(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Confirm, then offboard from Cloudflare. A failure leaves it `deleting`, retried later."""
    ensure(membership, Action.CHANGE_DOMAINS)
    domain = get_domain_or_404(membership.organization_id, domain_id)
    if request.method == "GET":
        return render(request, "domains/remove.html", {"domain": domain, "membership": membership})
    remaining = domain_delete(domain=domain, actor=request.user)
    if remaining is None:
        messages.success(
            request, f"Removed {domain.unicode_hostname}. Its slot in your plan is free."
        )
    else:
        messages.warning(
            request,
            f"{domain.hostname} is being removed; Cloudflare did not confirm yet and we keep "
            "retrying on our own.",
        )
    return redirect("dashboard")


@require_POST
@organization_required
def domain_origin(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """Choose the origin that serves the domain; the hostname follows in the background."""
    ensure(membership, Action.CHANGE_DOMAINS)
    domain = get_domain_or_404(membership.organization_id, domain_id)
    form = DomainOriginForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("unknown_origin", "Choose one of your origins.", field="origin")
        origin = _chosen(membership, form)
        domain_set_origin(domain=domain, origin=origin)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        name = origin.name if origin else "your default origin"
        messages.success(request, f"{domain.unicode_hostname} is moving to {name}.")
    return redirect("domains:detail", domain_id=domain.pk)


@require_POST
@organization_required
def domain_add_www(
    request: SignedInRequest, membership: Membership, domain_id: uuid.UUID
) -> HttpResponse:
    """A bare domain whose DNS host cannot point it at us: add www.<it> instead, in one click
    (the bare domain stays until its owner removes it)."""
    ensure(membership, Action.CHANGE_DOMAINS)
    apex = get_domain_or_404(membership.organization_id, domain_id)
    try:
        registration = domain_register(
            organization=membership.organization,
            hostname=f"www.{apex.hostname}",
            actor=request.user,
            origin=apex.origin,
        )
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("domains:detail", domain_id=apex.pk)
    messages.success(
        request,
        f"Added {registration.domain.unicode_hostname}. Create its record below, and at the "
        f"DNS host of {apex.unicode_hostname} a redirect from {apex.unicode_hostname} to it; "
        f"then remove {apex.unicode_hostname} here if you no longer need it.",
    )
    return redirect("domains:detail", domain_id=registration.domain.pk)
