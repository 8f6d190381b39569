"""The Webhooks pages: an organization's endpoints, each one's delivery log, and the docs."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from accounts.access import SignedInRequest, organization_required
from accounts.models import Membership
from accounts.roles import Action, ensure
from dcvaas import once
from domains.errors import DomainError
from domains.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEventType
from domains.webhooks.access import get_delivery_or_404, get_endpoint_or_404
from domains.webhooks.forms import EndpointForm
from domains.webhooks.services import (
    webhook_delivery_resend,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
)

DELIVERIES_PER_PAGE = 50


def _managing(membership: Membership) -> None:
    ensure(membership, Action.MANAGE_WEBHOOKS)


def _shown_once(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, no_store=True, private=True)
    return response


@organization_required
def webhooks_page(request: SignedInRequest, membership: Membership) -> HttpResponse:
    """The organization's endpoints; owners and admins add them here (the secret is shown in
    the answer to the request that created it, and kept nowhere else)."""
    form = EndpointForm()
    new_secret = None
    if request.method == "POST":
        _managing(membership)
        form = EndpointForm(request.POST)
        if not once.spend(request):
            messages.info(
                request,
                "That form was already sent: its endpoint is in the list below (its secret was "
                "shown once). Rotate the secret if you need a new one.",
            )
            return redirect("webhooks:page")
        if form.is_valid():
            try:
                created = webhook_endpoint_create(
                    organization=membership.organization,
                    url=form.cleaned_data["url"],
                    description=form.cleaned_data["description"],
                    event_types=form.cleaned_data["event_types"],
                )
            except DomainError as error:
                form.add_error(error.field or None, error.message)
            else:
                new_secret = created
                form = EndpointForm()
    endpoints = WebhookEndpoint.objects.filter(organization=membership.organization)
    response = render(
        request,
        "webhooks/page.html",
        {
            "membership": membership,
            "form": form,
            "endpoints": endpoints,
            "new_secret": new_secret,
            # The sandbox's inbox (sandbox/inbox.py), offered only where it runs.
            "sandbox_inbox_url": (
                f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_INBOX_PORT}/hooks"
                if settings.SANDBOX
                else ""
            ),
        },
        status=400 if form.errors else 200,
    )
    return _shown_once(response) if new_secret else response


@organization_required
def endpoint_page(
    request: SignedInRequest, membership: Membership, endpoint_id: uuid.UUID
) -> HttpResponse:
    """One endpoint and its delivery log, newest first, filtered by status and event type."""
    endpoint = get_endpoint_or_404(membership.organization_id, endpoint_id)
    status = request.GET.get("status", "")
    event_type = request.GET.get("event_type", "")
    deliveries = (
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .select_related("message")
        .order_by("-created_at", "-id")
    )
    if status in WebhookDeliveryStatus.values:
        deliveries = deliveries.filter(status=status)
    if event_type in WebhookEventType.values:
        deliveries = deliveries.filter(message__type=event_type)
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "webhooks/endpoint.html",
        {
            "membership": membership,
            "endpoint": endpoint,
            "page": page,
            "status_filter": status,
            "type_filter": event_type,
            "statuses": WebhookDeliveryStatus.choices,
            "event_types": WebhookEventType.choices,
        },
    )


@require_POST
@organization_required
def endpoint_action(
    request: SignedInRequest, membership: Membership, endpoint_id: uuid.UUID, action: str
) -> HttpResponse:
    """Send a test, rotate the secret, enable, disable or remove an endpoint."""
    endpoint = get_endpoint_or_404(membership.organization_id, endpoint_id)
    _managing(membership)
    if action == "test":
        webhook_endpoint_send_test(endpoint=endpoint)
        messages.success(request, "A test event is on its way: it appears in the log below.")
    elif action == "rotate":
        if not once.spend(request):
            messages.info(
                request,
                "That rotation was already done: the secret it showed is the current one (shown "
                "once). Rotate again if you need a new one.",
            )
            return redirect("webhooks:endpoint", endpoint_id=endpoint.pk)
        rotated = webhook_endpoint_rotate_secret(endpoint=endpoint)
        context = {"membership": membership, "endpoint": endpoint, "new_secret": rotated}
        return _shown_once(render(request, "webhooks/secret.html", context))
    elif action in ("enable", "disable"):
        webhook_endpoint_update(endpoint=endpoint, enabled=action == "enable")
        messages.success(request, f"Endpoint {'enabled' if action == 'enable' else 'disabled'}.")
    elif action == "delete":
        webhook_endpoint_delete(endpoint=endpoint)
        messages.success(request, f"Removed {endpoint.url}.")
        return redirect("webhooks:page")
    else:
        return HttpResponse("Unknown action", status=400)
    return redirect("webhooks:endpoint", endpoint_id=endpoint.pk)


@require_POST
@organization_required
def delivery_resend(
    request: SignedInRequest, membership: Membership, endpoint_id: uuid.UUID, delivery_id: int
) -> HttpResponse:
    delivery = get_delivery_or_404(membership.organization_id, endpoint_id, delivery_id)
    _managing(membership)
    webhook_delivery_resend(delivery=delivery)
    messages.success(request, f"Sending {delivery.message_id} again.")
    return redirect("webhooks:endpoint", endpoint_id=endpoint_id)


@organization_required
def docs_page(request: SignedInRequest, membership: Membership) -> HttpResponse:
    return render(request, "webhooks/docs.html", {"membership": membership})
