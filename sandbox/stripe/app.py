"""The Stripe simulator: plumbing, webhook delivery, test controls and the JSON API."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import os
import random
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from sandbox.server import Request, Response, SandboxApp
from sandbox.stripe import pages
from sandbox.stripe.objects import StripeObjects, empty_state
from sandbox.stripe.wire import StripeApiError, missing, parse_form, sign_payload

logger = logging.getLogger(__name__)

# Sends a webhook body with its headers and returns the HTTP status (tests plug in Django's
# test client; the default posts to `webhook_url`).
WebhookSender = Callable[[bytes, dict[str, str]], int]


@dataclass(frozen=True)
class Delivery:
    event_id: str
    type: str
    status: int  # HTTP status, 0 when the endpoint could not be reached


class StripeSandbox(StripeObjects, SandboxApp):
    """A stateful Stripe for tests and `make run` (see the package docstring)."""

    def __init__(
        self,
        *,
        api_key: str,
        webhook_secret: str,
        prices: dict[str, tuple[str, int]],
        webhook_url: str = "",
        public_url: str = "",
        portal_cancel_mode: str = "at_period_end",
        state_file: Path | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.prices = dict(prices)  # price id → (product name, monthly amount in cents)
        self.webhook_url = webhook_url
        self.webhook_sender: WebhookSender | None = None
        # Where people's browsers reach the simulator; empty = the Host of the API request.
        self.public_url = public_url.rstrip("/")
        self.portal_cancel_mode = portal_cancel_mode
        self.state_file = state_file
        self.deliveries: list[Delivery] = []
        # Event bodies a test's webhook sender kept unsent (see tests/fixtures/stripe.py).
        self.deferred: list[bytes] = []
        self._lock = threading.RLock()
        self._outbox: list[dict[str, Any]] = []
        self._held: list[dict[str, Any]] | None = None
        self.state = empty_state()
        if state_file is not None and state_file.exists():
            self.state.update(json.loads(state_file.read_text()))

    # -- plumbing ---------------------------------------------------------------------------

    def _save(self) -> None:
        if self.state_file is None:
            return
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.state_file.parent, prefix=".stripe-", suffix=".json")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.state, handle)
        os.replace(tmp, self.state_file)

    def _commit(self) -> list[dict[str, Any]]:
        """End of a change (lock held): persist, and take the events it produced."""
        self._save()
        events, self._outbox = self._outbox, []
        return events

    def _dispatch(self, events: list[dict[str, Any]]) -> list[Delivery]:
        """Deliver events (never with the lock held: the app calls back into the simulator)."""
        with self._lock:
            if self._held is not None:
                self._held.extend(events)
                return []
        return [self._deliver(event) for event in events]

    def _deliver(self, event: dict[str, Any]) -> Delivery:
        payload = json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": sign_payload(payload, self.webhook_secret),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        status = 0
        try:
            if self.webhook_sender is not None:
                status = self.webhook_sender(payload, headers)
            elif self.webhook_url:
                status = requests.post(
                    self.webhook_url, data=payload, headers=headers, timeout=30
                ).status_code
        except requests.RequestException as error:
            logger.warning("stripe sandbox: delivering %s failed: %s", event["id"], error)
        delivery = Delivery(event["id"], event["type"], status)
        with self._lock:
            self.deliveries.append(delivery)
        return delivery

    # -- test controls ----------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self.state = empty_state()
            self.deliveries = []
            self.deferred = []
            self._outbox = []
            self._held = None
            self.webhook_sender = None
            self.portal_cancel_mode = "at_period_end"
            self._save()

    def hold_events(self) -> None:
        """Keep events instead of sending them, until `release_held`."""
        with self._lock:
            if self._held is None:
                self._held = []

    def held_events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._held or [])

    def take_held(self) -> list[dict[str, Any]]:
        """Stop holding and hand over the held events unsent (to deliver them in any order)."""
        with self._lock:
            events, self._held = list(self._held or []), None
        return events

    def release_held(
        self, *, shuffle_seed: int | None = None, duplicate_every: int = 0
    ) -> list[Delivery]:
        """Stop holding, and send what was held (see `deliver` for the options)."""
        with self._lock:
            events, self._held = list(self._held or []), None
        return self.deliver(events, shuffle_seed=shuffle_seed, duplicate_every=duplicate_every)

    def deliver(
        self,
        events: list[dict[str, Any]],
        *,
        shuffle_seed: int | None = None,
        duplicate_every: int = 0,
    ) -> list[Delivery]:
        """Send events now: in order, or shuffled (seeded), with every Nth sent twice."""
        events = list(events)
        if duplicate_every:
            events = events + events[::duplicate_every]
        if shuffle_seed is not None:
            random.Random(shuffle_seed).shuffle(events)
        return [self._deliver(event) for event in events]

    def resend(self, event_id: str) -> Delivery:
        """Deliver an event again (a fresh signature, the same event), as Stripe's retries do."""
        with self._lock:
            event = copy.deepcopy(self.state["events"][event_id])
        return self._deliver(event)

    def send_event(self, type_: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create an event of any type about `obj` and deliver it; returns the event."""
        with self._lock:
            self._emit(type_, obj)
            events = self._commit()
        self._dispatch(events)
        return events[0]

    def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(event)
                for event in self.state["events"].values()
                if type_ is None or event["type"] == type_
            ]

    def set_card_declines(self, customer_id: str, *, declines: bool = True) -> None:
        """From now on, this customer's renewals fail (or succeed again)."""
        with self._lock:
            declining = set(self.state["declining_customers"])
            (declining.add if declines else declining.discard)(customer_id)
            self.state["declining_customers"] = sorted(declining)
            self._commit()

    def subscriptions(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self.state["subscriptions"].values()))

    def declining_customers(self) -> set[str]:
        with self._lock:
            return set(self.state["declining_customers"])

    def create_subscription(self, customer_id: str, price_id: str) -> dict[str, Any]:
        """A paid subscription for a customer, as a successful Checkout makes (with events)."""
        with self._lock:
            sub = self._subscription_start(customer_id, price_id)
            events = self._commit()
        self._dispatch(events)
        return copy.deepcopy(sub)

    def create_customer(self, *, name: str = "", email: str = "", metadata: dict[str, str]) -> str:
        with self._lock:
            customer = self._customer_create({"name": name, "email": email, "metadata": metadata})
            self._commit()
        return str(customer["id"])

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self.state["subscriptions"][subscription_id])

    def set_subscription_status(self, subscription_id: str, status: str) -> dict[str, Any]:
        """Put a subscription in `status` the way Stripe gets there, sending its events.

        past_due: a renewal was attempted and failed (a new period starts now);
        unpaid: retries are exhausted; canceled: canceled now; active: the open invoice is paid.
        """
        with self._lock:
            sub = self.state["subscriptions"][subscription_id]
            now = self.now()
            if status == "past_due":
                self._renew(sub, start=now, paid=False)
            elif status == "unpaid":
                previous = {"status": sub["status"]}
                sub["status"] = "unpaid"
                self._emit("customer.subscription.updated", sub, previous)
            elif status == "canceled":
                self._cancel_now(sub, ended_at=now)
            elif status == "active":
                invoice = self.state["invoices"].get(sub.get("latest_invoice") or "")
                if invoice is not None and invoice["status"] == "open":
                    self._invoice_pay(invoice)
                previous = {"status": sub["status"]}
                sub["status"] = "active"
                self._emit("customer.subscription.updated", sub, previous)
            else:
                raise ValueError(f"Unsupported status {status!r}")
            events = self._commit()
            result = copy.deepcopy(sub)
        self._dispatch(events)
        return result

    def change_price(self, subscription_id: str, price_id: str) -> dict[str, Any]:
        """Switch a subscription to another price, as the portal does (with its events)."""
        with self._lock:
            sub = self.state["subscriptions"][subscription_id]
            self._change_price(sub, price_id)
            events = self._commit()
            result = copy.deepcopy(sub)
        self._dispatch(events)
        return result

    def advance_time(self, seconds: int) -> list[Delivery]:
        """Move the simulator's clock forward and do what Stripe would have done meanwhile:
        renew (or fail to renew) subscriptions whose period ended, end canceled ones."""
        with self._lock:
            self.state["clock_offset"] = int(self.state["clock_offset"]) + int(seconds)
        return self.run_clock()

    def end_period_now(self, subscription_id: str) -> list[Delivery]:
        """Cut a subscription's current period short at this moment and do what Stripe does at
        a period's end (renew, fail to renew, or end one canceled at the period's end). The
        sandbox's "End the current period now": the dates Stripe then reports are today's,
        the same clock the app reads, so a downgrade can be walked through in minutes."""
        with self._lock:
            sub = self.state["subscriptions"][subscription_id]
            item = sub["items"]["data"][0]
            if sub["status"] in ("active", "trialing", "past_due"):
                item["current_period_end"] = min(int(item["current_period_end"]), self.now())
        return self.run_clock()

    def run_clock(self) -> list[Delivery]:
        """Process every period end up to `now()` (also after time-machine moved time)."""
        with self._lock:
            now = self.now()
            for sub in self.state["subscriptions"].values():
                for _ in range(120):  # ten years of monthly periods at most
                    item = sub["items"]["data"][0]
                    end = item["current_period_end"]
                    if sub["status"] not in ("active", "trialing", "past_due") or end > now:
                        break
                    if sub["cancel_at_period_end"]:
                        self._cancel_now(sub, ended_at=end)
                    else:
                        paid = sub["customer"] not in self.state["declining_customers"]
                        self._renew(sub, start=end, paid=paid)
            events = self._commit()
        return self._dispatch(events)

    # -- HTTP -------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/v1/"):
            try:
                return self._api(request, path)
            except StripeApiError as error:
                return error.response()
        checkout = re.fullmatch(r"/checkout/(cs_test_\w+)", path)
        if checkout:
            return pages.checkout_page(self, request, checkout.group(1))
        portal = re.fullmatch(r"/portal/(bps_\w+)", path)
        if portal:
            return pages.portal_page(self, request, portal.group(1))
        if path == "/sandbox":
            return pages.control_page(self, request)
        if path == "/":
            return Response.html(
                "<!doctype html><title>Stripe sandbox</title><h1>Stripe sandbox</h1>"
                "<p>DCVaaS's local Stripe simulator. Start from the app's Billing page; "
                'end periods and fail renewals on <a href="/sandbox/">the controls</a>.</p>'
            )
        return Response.html("<h1>Not found</h1>", status=404)

    def _authenticate(self, request: Request) -> None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        key = ""
        if scheme.lower() == "bearer":
            key = credentials.strip()
        elif scheme.lower() == "basic":
            try:
                key = base64.b64decode(credentials).decode().partition(":")[0]
            except ValueError:
                key = ""
        if not key:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth.",
            )
        if not hmac.compare_digest(key, self.api_key):
            raise StripeApiError(401, f"Invalid API Key provided: {key[:8]}****")

    def _api(self, request: Request, path: str) -> Response:
        self._authenticate(request)
        idempotency_key = request.headers.get("idempotency-key", "")
        if request.method != "POST" or not idempotency_key:
            return self._route(request, path)
        fingerprint = hashlib.sha256(f"{path}\n".encode() + request.body).hexdigest()
        with self._lock:
            seen = self.state["idempotency"].get(idempotency_key)
            if seen is not None:
                if seen["fingerprint"] != fingerprint:
                    raise StripeApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with. Try using a key other than "
                        f"'{idempotency_key}' if you meant to execute a different request.",
                        code="idempotency_error",
                    )
                return Response(
                    status=seen["status"],
                    body=seen["body"].encode(),
                    headers={"Content-Type": "application/json", "Idempotent-Replayed": "true"},
                )
            # Under the lock, so two concurrent requests with one key make one object.
            response = self._route(request, path)
            if response.status < 500:
                self.state["idempotency"][idempotency_key] = {
                    "fingerprint": fingerprint,
                    "status": response.status,
                    "body": response.body.decode(),
                }
                self._save()
        return response

    def _public_url(self, request: Request) -> str:
        return self.public_url or f"http://{request.headers.get('host', '127.0.0.1')}"

    def _route(self, request: Request, path: str) -> Response:
        method = request.method
        params = parse_form(request.body) if method == "POST" else {}
        cancel = re.fullmatch(r"/v1/subscriptions/([\w-]+)", path)
        if method == "DELETE" and cancel:
            return self._subscription_cancel(cancel.group(1))
        expire = re.fullmatch(r"/v1/checkout/sessions/([\w-]+)/expire", path)
        if method == "POST" and expire:
            return self._checkout_session_expire(expire.group(1))
        with self._lock:
            if (method, path) == ("POST", "/v1/customers"):
                customer = self._customer_create(params)
                self._commit()
                return Response.json(customer)
            if (method, path) == ("POST", "/v1/checkout/sessions"):
                session = self._checkout_session_create(params, self._public_url(request))
                self._commit()
                return Response.json(session)
            if (method, path) == ("POST", "/v1/billing_portal/sessions"):
                session = self._portal_session_create(params, self._public_url(request))
                self._commit()
                return Response.json(session)
            if (method, path) == ("GET", "/v1/checkout/sessions"):
                # Newest first, as Stripe lists; `customer` and `status` filter.
                wanted, status = request.arg("customer"), request.arg("status")
                sessions = [
                    {k: v for k, v in s.items() if not k.startswith("_")}
                    for s in self.state["checkout_sessions"].values()
                    if (not wanted or s["customer"] == wanted)
                    and (not status or s["status"] == status)
                ]
                sessions.sort(key=lambda s: s["created"], reverse=True)
                return Response.json(
                    {"object": "list", "data": sessions, "has_more": False, "url": path}
                )
            if (method, path) == ("GET", "/v1/subscriptions"):
                # As Stripe: without `status`, every subscription but the canceled ones.
                wanted = request.arg("customer")
                status = request.arg("status")
                data = [
                    s
                    for s in self.state["subscriptions"].values()
                    if (not wanted or s["customer"] == wanted)
                    and (
                        status == "all"
                        or s["status"] == status
                        or (not status and s["status"] != "canceled")
                    )
                ]
                return Response.json(
                    {"object": "list", "data": data, "has_more": False, "url": path}
                )
            match = re.fullmatch(
                r"/v1/(customers|checkout/sessions|subscriptions|invoices|events)/([\w-]+)",
                path,
            )
            if method == "GET" and match:
                collection, object_id = match.groups()
                store, kind = {
                    "customers": ("customers", "customer"),
                    "checkout/sessions": ("checkout_sessions", "checkout.session"),
                    "subscriptions": ("subscriptions", "subscription"),
                    "invoices": ("invoices", "invoice"),
                    "events": ("events", "event"),
                }[collection]
                found = self.state[store].get(object_id)
                if found is None:
                    raise missing(kind, object_id)
                return Response.json(found)
        raise StripeApiError(
            404,
            f"Unrecognized request URL ({method}: {path}). The Stripe sandbox implements only "
            "the endpoints DCVaaS uses.",
        )

    def _checkout_session_expire(self, session_id: str) -> Response:
        """`POST /v1/checkout/sessions/{id}/expire`: no one can pay it any more; sends
        `checkout.session.expired`. Only an open session can be expired (400 otherwise, as
        Stripe answers)."""
        with self._lock:
            session = self.state["checkout_sessions"].get(session_id)
            if session is None:
                raise missing("checkout.session", session_id)
            if session["status"] != "open":
                raise StripeApiError(
                    400,
                    'Only Checkout Sessions with a status in ["open"] can be expired.',
                )
            session["status"] = "expired"
            public = {k: v for k, v in session.items() if not k.startswith("_")}
            self._emit("checkout.session.expired", public)
            events = self._commit()
        self._dispatch(events)
        return Response.json(public)

    def _subscription_cancel(self, subscription_id: str) -> Response:
        """`DELETE /v1/subscriptions/{id}`: cancel now, sending `customer.subscription.deleted`
        (before answering: the simulator's events are delivered in order, as they happen).
        An ended subscription cannot be canceled again: a 400, as Stripe refuses changes to it."""
        with self._lock:
            sub = self.state["subscriptions"].get(subscription_id)
            if sub is None:
                raise missing("subscription", subscription_id)
            if sub["status"] in ("canceled", "incomplete_expired"):
                raise StripeApiError(
                    400,
                    "A canceled subscription can only update its cancellation_details.",
                )
            self._cancel_now(sub, ended_at=self.now())
            events = self._commit()
            result = copy.deepcopy(sub)
        self._dispatch(events)
        return Response.json(result)


def app_from_settings(state_dir: Path | None = None) -> StripeSandbox:
    """The simulator configured like the app: its keys, prices, and webhook endpoint."""
    from django.conf import settings

    from billing.plans import paid_plans

    return StripeSandbox(
        api_key=settings.STRIPE_SECRET_KEY or "sk_test_sandbox",
        webhook_secret=settings.STRIPE_WEBHOOK_SECRET or "whsec_sandbox",
        prices={plan.price_id: (plan.name, plan.monthly_price_usd * 100) for plan in paid_plans()},
        webhook_url=f"{settings.SITE_URL}/billing/webhook/",
        state_file=state_dir / "stripe.json" if state_dir is not None else None,
    )
