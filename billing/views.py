from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.access import SignedInRequest, organization_required
from accounts.models import Membership
from accounts.roles import Action, ensure
from billing.forms import CheckoutForm
from billing.models import Subscription
from billing.plans import (
    Entitlements,
    Plan,
    SubscriptionStatus,
    all_plans,
    get_plan,
    organization_entitlements,
)
from billing.services import (
    BillingError,
    BillingNotFound,
    checkout_complete,
    checkout_start,
    organization_domain_count,
    portal_start,
    stripe_webhook_receive,
)
from billing.stripe_client import StripeTransientError, WebhookSignatureError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlanCard:
    """One plan on the billing page and what its card offers."""

    plan: Plan
    yours: bool  # a live subscription to it, or Free without one
    action: str  # "subscribe", "switch" (in the portal), "cancel" (in the portal) or ""
    again: bool  # subscribing again to the plan that ended
    applies_until: dt.datetime | None  # its limits still apply after it ended, until then


def plan_cards(entitlements: Entitlements, subscription: Subscription | None) -> list[PlanCard]:
    live = subscription is not None and subscription.is_live
    cards = []
    for plan in all_plans():
        yours = plan.key == entitlements.plan.key and (live or not plan.is_paid)
        if yours:
            action = ""
        elif plan.is_paid:
            action = "switch" if live else "subscribe"
        else:
            action = "cancel" if live else ""
        ended = (
            subscription is not None
            and subscription.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID)
            and plan.key == entitlements.subscribed_plan.key
        )
        cards.append(
            PlanCard(
                plan=plan,
                yours=yours,
                action=action,
                again=ended and plan.is_paid,
                applies_until=entitlements.grace_ends_at
                if ended and plan.key == entitlements.plan.key
                else None,
            )
        )
    return cards


@require_GET
@organization_required
def billing_page(request: SignedInRequest, membership: Membership) -> HttpResponse:
    ensure(membership, Action.BILLING)
    organization = membership.organization
    entitlements = organization_entitlements(
        organization, domain_count=organization_domain_count(organization)
    )
    subscription = Subscription.objects.filter(organization=organization).first()
    if request.GET.get("checkout") == "canceled":
        messages.info(request, "Checkout was canceled: nothing changed.")
    return render(
        request,
        "billing/page.html",
        {
            "membership": membership,
            "organization": organization,
            "subscription": subscription,
            "entitlements": entitlements,
            "cards": plan_cards(entitlements, subscription),
            "free_plan": get_plan("free"),
            "grace_days": settings.BILLING_GRACE_DAYS,
            "request_key": uuid.uuid4().hex,
        },
    )


@require_POST
@organization_required
def checkout(request: SignedInRequest, membership: Membership) -> HttpResponse:
    ensure(membership, Action.BILLING)
    form = CheckoutForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Pro or Agency, then try again.")
        return redirect("billing:page")
    try:
        url = checkout_start(
            organization=membership.organization,
            plan_key=form.cleaned_data["plan"],
            request_key=form.cleaned_data["request_key"],
            email=request.user.email,
        )
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("billing:page")
    return redirect(url)


@require_POST
@organization_required
def portal(request: SignedInRequest, membership: Membership) -> HttpResponse:
    ensure(membership, Action.BILLING)
    try:
        url = portal_start(organization=membership.organization)
    except BillingError as error:
        messages.error(request, error.message)
        return redirect("billing:page")
    return redirect(url)


@require_GET
@organization_required
def checkout_success(request: SignedInRequest, membership: Membership) -> HttpResponse:
    try:
        subscription = checkout_complete(
            organization=membership.organization,
            session_id=request.GET.get("session_id", ""),
        )
    except BillingNotFound as error:
        raise Http404(error.message) from error
    except BillingError as error:
        messages.warning(
            request, f"{error.message} Your plan will update as soon as Stripe confirms."
        )
        return redirect("billing:page")
    if subscription is not None and subscription.is_live:
        plan_name = subscription.get_plan_display()
        messages.success(request, f"Thank you! You are on the {plan_name} plan.")
    else:
        messages.info(request, "Thank you! Your plan will update as soon as Stripe confirms.")
    return redirect("billing:page")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's webhook: signed events, each stored once and followed by re-reading Stripe."""
    try:
        event, new = stripe_webhook_receive(
            payload=request.body, signature=request.headers.get("Stripe-Signature", "")
        )
    except WebhookSignatureError as error:
        logger.warning("stripe webhook rejected: %s", error.message)
        return HttpResponseBadRequest("Invalid signature")
    except StripeTransientError:
        # Stored as failed; a non-2xx answer makes Stripe deliver it again later, and a
        # redelivered failed event is processed again.
        return JsonResponse({"received": True, "status": "failed"}, status=503)
    return JsonResponse({"received": True, "status": event.status, "duplicate": not new})
