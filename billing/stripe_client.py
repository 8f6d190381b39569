"""The one module that talks to Stripe (and the only one that imports `stripe`).

Everything leaves as frozen dataclasses and typed errors; no stripe object escapes. Credentials
and the API base are read from settings at call time, so import, `manage.py check` and tests
never need them. Callers must not hold a database transaction open around these calls.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 20.0
# stripe-python retries connection errors, 409s and 5xx with backoff, reusing our idempotency
# key, so a retried create can never make a second object.
MAX_NETWORK_RETRIES = 2
# How old a webhook signature may be; older ones are replays.
WEBHOOK_TOLERANCE_SECONDS = 300
# Statuses a subscription never leaves: nothing more is charged.
ENDED_STATUSES = frozenset({"canceled", "incomplete_expired"})


class StripeClientError(Exception):
    """A Stripe call failed; `message` is safe to show to a person."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class StripeTransientError(StripeClientError):
    """Network trouble, rate limiting or a Stripe outage: trying again later may work."""


class StripePermanentError(StripeClientError):
    """Stripe refused the request (bad parameters, unknown object, bad key)."""


class WebhookSignatureError(StripeClientError):
    """The payload is not a Stripe event signed with our webhook secret (or it is too old)."""


@dataclass(frozen=True)
class Customer:
    id: str
    email: str


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    status: str
    customer_id: str
    subscription_id: str
    client_reference_id: str


@dataclass(frozen=True)
class PortalSession:
    id: str
    url: str


@dataclass(frozen=True)
class SubscriptionState:
    id: str
    customer_id: str
    status: str
    price_id: str
    current_period_start: dt.datetime | None
    current_period_end: dt.datetime | None
    cancel_at_period_end: bool
    canceled_at: dt.datetime | None
    ended_at: dt.datetime | None
    created: dt.datetime | None


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created: dt.datetime
    livemode: bool
    object_type: str
    object_id: str
    customer_id: str
    subscription_id: str
    client_reference_id: str


def _timestamp(value: Any) -> dt.datetime | None:
    if value in (None, ""):
        return None
    return dt.datetime.fromtimestamp(int(value), tz=dt.UTC)


def _id(value: Any) -> str:
    """An id from a field that is either an id or an expanded object."""
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _required_setting(name: str) -> str:
    value = getattr(settings, name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set: billing needs it to talk to Stripe.")
    return str(value)


def _subscription_id_of(obj: dict[str, Any]) -> str:
    kind = obj.get("object")
    if kind == "subscription":
        return _id(obj.get("id"))
    if kind == "invoice":
        # Current API versions put it under parent.subscription_details; older ones at the top.
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {}
        return _id(details.get("subscription") or obj.get("subscription"))
    return _id(obj.get("subscription"))


def parse_subscription(data: dict[str, Any]) -> SubscriptionState:
    items = (data.get("items") or {}).get("data") or [{}]
    item = items[0]
    price = item.get("price") or {}
    return SubscriptionState(
        id=_id(data.get("id")),
        customer_id=_id(data.get("customer")),
        status=str(data.get("status") or ""),
        price_id=_id(price),
        # Since API version 2025-03-31 the period is per item; fall back to the subscription
        # fields for accounts pinned to an older version.
        current_period_start=_timestamp(
            item.get("current_period_start") or data.get("current_period_start")
        ),
        current_period_end=_timestamp(
            item.get("current_period_end") or data.get("current_period_end")
        ),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        canceled_at=_timestamp(data.get("canceled_at")),
        ended_at=_timestamp(data.get("ended_at")),
        created=_timestamp(data.get("created")),
    )


def _translate(error: stripe.StripeError) -> StripeClientError:
    code = str(getattr(error, "code", "") or "")
    message = error.user_message or str(error) or error.__class__.__name__
    transient = (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError)
    if isinstance(error, transient) or (error.http_status or 0) >= 500:
        return StripeTransientError(f"Stripe is unavailable: {message}", code=code)
    return StripePermanentError(message, code=code)


class StripeClient:
    """A thin, typed wrapper around `stripe.StripeClient`. Construct one per use."""

    def __init__(self) -> None:
        self._client: stripe.StripeClient | None = None

    def _stripe(self) -> stripe.StripeClient:
        if self._client is None:
            api_key = _required_setting("STRIPE_SECRET_KEY")
            base = str(getattr(settings, "STRIPE_API_BASE", "") or "").rstrip("/")
            self._client = stripe.StripeClient(
                api_key,
                base_addresses={"api": base} if base else None,
                max_network_retries=MAX_NETWORK_RETRIES,
                http_client=stripe.RequestsClient(timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)),
            )
        return self._client

    @staticmethod
    def _dict(obj: Any) -> dict[str, Any]:
        return obj.to_dict(recursive=True) if hasattr(obj, "to_dict") else dict(obj)

    def create_customer(
        self, *, organization_id: int, name: str, email: str, idempotency_key: str
    ) -> Customer:
        """Create a Stripe customer for an organization; the key makes retries safe."""
        params: dict[str, Any] = {
            "name": name,
            "metadata": {"organization_id": str(organization_id)},
        }
        if email:
            params["email"] = email
        try:
            obj = self._stripe().v1.customers.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise _translate(error) from error
        data = self._dict(obj)
        return Customer(id=_id(data.get("id")), email=str(data.get("email") or ""))

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        price_id: str,
        organization_id: int,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
    ) -> CheckoutSession:
        """A Checkout Session in subscription mode for one price."""
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer_id,
            "client_reference_id": str(organization_id),
            "line_items": [{"price": price_id, "quantity": 1}],
            "success_url": success_url,
            "cancel_url": cancel_url,
            "subscription_data": {"metadata": {"organization_id": str(organization_id)}},
            "metadata": {"organization_id": str(organization_id)},
        }
        try:
            obj = self._stripe().v1.checkout.sessions.create(
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise _translate(error) from error
        return self._checkout_session(self._dict(obj))

    def retrieve_checkout_session(self, session_id: str) -> CheckoutSession:
        try:
            obj = self._stripe().v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError as error:
            raise _translate(error) from error
        return self._checkout_session(self._dict(obj))

    def list_open_checkout_sessions(self, customer_id: str) -> list[CheckoutSession]:
        """The customer's Checkout Sessions that someone could still pay, all pages."""
        try:
            page = self._stripe().v1.checkout.sessions.list(
                params={"customer": customer_id, "status": "open", "limit": 100}
            )
            found = [self._checkout_session(self._dict(obj)) for obj in page.auto_paging_iter()]
        except stripe.StripeError as error:
            raise _translate(error) from error
        return [session for session in found if session.status == "open"]

    def expire_checkout_session(self, session_id: str) -> CheckoutSession:
        """Make an open Checkout Session unpayable, and return it as Stripe has it then.

        Safe to repeat: Stripe refuses to expire a session that is no longer open, so the
        session is read back and returned if it is not open (expired, or paid meanwhile: the
        caller then has a subscription to cancel)."""
        try:
            obj = self._stripe().v1.checkout.sessions.expire(session_id)
        except stripe.StripeError as error:
            translated = _translate(error)
            if isinstance(translated, StripeTransientError):
                raise translated from error
            current = self.retrieve_checkout_session(session_id)
            if current.status != "open":
                return current
            raise translated from error
        return self._checkout_session(self._dict(obj))

    @staticmethod
    def _checkout_session(data: dict[str, Any]) -> CheckoutSession:
        return CheckoutSession(
            id=_id(data.get("id")),
            url=str(data.get("url") or ""),
            status=str(data.get("status") or ""),
            customer_id=_id(data.get("customer")),
            subscription_id=_id(data.get("subscription")),
            client_reference_id=str(data.get("client_reference_id") or ""),
        )

    def create_portal_session(self, *, customer_id: str, return_url: str) -> PortalSession:
        """A Billing Portal session: Stripe's page to change plan, card or cancel."""
        try:
            obj = self._stripe().v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            )
        except stripe.StripeError as error:
            raise _translate(error) from error
        data = self._dict(obj)
        return PortalSession(id=_id(data.get("id")), url=str(data.get("url") or ""))

    def retrieve_subscription(self, subscription_id: str) -> SubscriptionState:
        """The subscription as Stripe has it now (canceled ones included)."""
        try:
            obj = self._stripe().v1.subscriptions.retrieve(subscription_id)
        except stripe.StripeError as error:
            raise _translate(error) from error
        return parse_subscription(self._dict(obj))

    def list_subscriptions(self, customer_id: str) -> list[SubscriptionState]:
        """Every subscription of the customer that has not ended (canceled ones are left out,
        as Stripe's list does by default), all pages."""
        try:
            page = self._stripe().v1.subscriptions.list(
                params={"customer": customer_id, "limit": 100}
            )
            found = [parse_subscription(self._dict(obj)) for obj in page.auto_paging_iter()]
        except stripe.StripeError as error:
            raise _translate(error) from error
        return [state for state in found if state.status not in ENDED_STATUSES]

    def cancel_subscription(self, subscription_id: str) -> SubscriptionState:
        """Cancel now (no further charge), and return the subscription as Stripe has it then.

        Safe to repeat (a DELETE takes no idempotency key): canceling one that already ended is
        not an error here. Stripe answers that with an error of its own, so the subscription is
        read back, and returned if it has ended.
        """
        try:
            obj = self._stripe().v1.subscriptions.cancel(subscription_id)
        except stripe.StripeError as error:
            translated = _translate(error)
            if isinstance(translated, StripeTransientError):
                raise translated from error
            current = self.retrieve_subscription(subscription_id)
            if current.status in ENDED_STATUSES:
                return current
            raise translated from error
        return parse_subscription(self._dict(obj))

    def construct_event(self, *, payload: bytes, signature: str) -> WebhookEvent:
        """Verify a webhook's `Stripe-Signature` with settings.STRIPE_WEBHOOK_SECRET and parse it.

        Raises WebhookSignatureError for a missing, wrong or stale signature and for a body
        that is not a Stripe event.
        """
        secret = _required_setting("STRIPE_WEBHOOK_SECRET")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, secret, WEBHOOK_TOLERANCE_SECONDS
            )
            data = json.loads(payload)
        except stripe.SignatureVerificationError as error:
            raise WebhookSignatureError(str(error) or "Bad signature") from error
        except (ValueError, UnicodeDecodeError) as error:
            raise WebhookSignatureError("The payload is not JSON") from error
        if not isinstance(data, dict) or data.get("object") != "event" or not data.get("id"):
            raise WebhookSignatureError("The payload is not a Stripe event")
        obj = (data.get("data") or {}).get("object") or {}
        customer = _id(obj.get("customer"))
        if obj.get("object") == "customer":
            customer = _id(obj.get("id"))
        return WebhookEvent(
            id=str(data["id"]),
            type=str(data.get("type") or ""),
            created=_timestamp(data.get("created")) or dt.datetime.now(tz=dt.UTC),
            livemode=bool(data.get("livemode")),
            object_type=str(obj.get("object") or ""),
            object_id=_id(obj.get("id")),
            customer_id=customer,
            subscription_id=_subscription_id_of(obj),
            client_reference_id=str(obj.get("client_reference_id") or ""),
        )
