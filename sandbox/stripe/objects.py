"""The simulator's Stripe objects and their lifecycle: customers, sessions, subscriptions,
invoices and the events each change produces. Called with the simulator's lock held."""

from __future__ import annotations

import copy
import hashlib
import secrets
import time
from typing import Any

from sandbox.stripe.wire import (
    API_VERSION,
    CARD_FAILS_LATER,
    PERIOD_SECONDS,
    StripeApiError,
    missing,
)


def empty_state() -> dict[str, Any]:
    return {
        "clock_offset": 0,
        "customers": {},
        "checkout_sessions": {},
        "portal_sessions": {},
        "subscriptions": {},
        "invoices": {},
        "events": {},
        "idempotency": {},
        "declining_customers": [],
    }


class StripeObjects:
    """Mixin of StripeSandbox: the objects in `self.state`."""

    state: dict[str, Any]
    prices: dict[str, tuple[str, int]]  # price id → (product name, monthly amount in cents)
    _outbox: list[dict[str, Any]]  # events made by the change in progress

    def now(self) -> int:
        """The simulator's clock: real time plus whatever `advance_time` added."""
        return int(time.time()) + int(self.state["clock_offset"])

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def _emit(
        self, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None = None
    ) -> None:
        event: dict[str, Any] = {
            "id": self._new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": copy.deepcopy(obj)},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }
        if previous:
            event["data"]["previous_attributes"] = previous
        self.state["events"][event["id"]] = event
        self._outbox.append(event)

    def _customer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": self._new_id("cus"),
            "object": "customer",
            "created": self.now(),
            "email": params.get("email") or None,
            "name": params.get("name") or None,
            "description": params.get("description") or None,
            "metadata": params.get("metadata") or {},
            "livemode": False,
            "invoice_settings": {"default_payment_method": None},
        }
        self.state["customers"][customer["id"]] = customer
        return customer

    def _price(self, price_id: str) -> dict[str, Any]:
        name, amount = self.prices[price_id]
        return {
            "id": price_id,
            "object": "price",
            "active": True,
            "currency": "usd",
            "product": f"prod_{hashlib.sha256(price_id.encode()).hexdigest()[:14]}",
            "nickname": name,
            "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
            "type": "recurring",
            "unit_amount": amount,
            "livemode": False,
        }

    def _invoice_create(self, sub: dict[str, Any], *, reason: str, paid: bool) -> dict[str, Any]:
        item = sub["items"]["data"][0]
        amount = item["price"]["unit_amount"]
        now = self.now()
        invoice = {
            "id": self._new_id("in"),
            "object": "invoice",
            "customer": sub["customer"],
            "created": now,
            "currency": "usd",
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "amount_remaining": 0 if paid else amount,
            "attempt_count": 1,
            "attempted": True,
            "billing_reason": reason,
            "collection_method": "charge_automatically",
            "status": "paid" if paid else "open",
            "period_start": item["current_period_start"],
            "period_end": item["current_period_end"],
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": sub["id"], "metadata": sub["metadata"]},
            },
            "livemode": False,
        }
        self.state["invoices"][invoice["id"]] = invoice
        sub["latest_invoice"] = invoice["id"]
        self._emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
        return invoice

    def _invoice_pay(self, invoice: dict[str, Any]) -> None:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        self._emit("invoice.paid", invoice)

    def _subscription_start(
        self, customer_id: str, price_id: str, metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        now = self.now()
        sub_id = self._new_id("sub")
        sub: dict[str, Any] = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer_id,
            "status": "active",
            "created": now,
            "start_date": now,
            "billing_cycle_anchor": now,
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "ended_at": None,
            "collection_method": "charge_automatically",
            "currency": "usd",
            "latest_invoice": None,
            "metadata": metadata or {},
            "livemode": False,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._new_id("si"),
                        "object": "subscription_item",
                        "created": now,
                        "current_period_start": now,
                        "current_period_end": now + PERIOD_SECONDS,
                        "price": self._price(price_id),
                        "quantity": 1,
                        "subscription": sub_id,
                    }
                ],
                "has_more": False,
                "total_count": 1,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
        }
        self.state["subscriptions"][sub_id] = sub
        self._emit("customer.subscription.created", sub)
        self._invoice_create(sub, reason="subscription_create", paid=True)
        return sub

    def _renew(self, sub: dict[str, Any], *, start: int, paid: bool) -> None:
        item = sub["items"]["data"][0]
        previous = {
            "status": sub["status"],
            "items": {"data": [{"current_period_start": item["current_period_start"]}]},
        }
        item["current_period_start"] = start
        item["current_period_end"] = start + PERIOD_SECONDS
        self._invoice_create(sub, reason="subscription_cycle", paid=paid)
        sub["status"] = "active" if paid else "past_due"
        self._emit("customer.subscription.updated", sub, previous)

    def _cancel_now(self, sub: dict[str, Any], *, ended_at: int) -> None:
        sub.update(
            status="canceled",
            canceled_at=sub["canceled_at"] or self.now(),
            ended_at=ended_at,
            cancel_at=None,
        )
        self._emit("customer.subscription.deleted", sub)

    def _change_price(self, sub: dict[str, Any], price_id: str) -> None:
        item = sub["items"]["data"][0]
        previous = {"items": {"data": [{"price": copy.deepcopy(item["price"])}]}}
        item["price"] = self._price(price_id)
        self._emit("customer.subscription.updated", sub, previous)
        self._invoice_create(sub, reason="subscription_update", paid=True)

    def _set_cancel_at_period_end(self, sub: dict[str, Any], cancel: bool) -> None:
        previous = {"cancel_at_period_end": sub["cancel_at_period_end"]}
        end = sub["items"]["data"][0]["current_period_end"]
        sub.update(
            cancel_at_period_end=cancel,
            cancel_at=end if cancel else None,
            canceled_at=self.now() if cancel else None,
        )
        self._emit("customer.subscription.updated", sub, previous)

    def _live_subscription(self, customer_id: str) -> dict[str, Any] | None:
        for sub in self.state["subscriptions"].values():
            if sub["customer"] == customer_id and sub["status"] in (
                "active",
                "trialing",
                "past_due",
            ):
                return sub
        return None

    def _checkout_session_create(self, params: dict[str, Any], public: str) -> dict[str, Any]:
        if params.get("mode") != "subscription":
            raise StripeApiError(
                400, "The Stripe sandbox supports only mode=subscription.", param="mode"
            )
        customer = params.get("customer", "")
        if customer not in self.state["customers"]:
            raise missing("customer", customer, param="customer")
        line_items = params.get("line_items") or []
        if not isinstance(line_items, list) or len(line_items) != 1:
            raise StripeApiError(400, "Pass exactly one line item.", param="line_items")
        price = line_items[0].get("price", "")
        if price not in self.prices:
            raise missing("price", price, param="line_items[0][price]")
        if not params.get("success_url"):
            raise StripeApiError(400, "Missing required param: success_url.", param="success_url")
        session_id = f"cs_test_{secrets.token_hex(16)}"
        now = self.now()
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "subscription",
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "customer_email": None,
            "client_reference_id": params.get("client_reference_id") or None,
            "subscription": None,
            "invoice": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url") or None,
            "url": f"{public}/checkout/{session_id}",
            "metadata": params.get("metadata") or {},
            "currency": "usd",
            "amount_total": self.prices[price][1],
            "created": now,
            "expires_at": now + 24 * 3600,
            "livemode": False,
            # Not part of Stripe's object (line items need `expand`); kept for the page.
            "_price": price,
            "_subscription_metadata": (params.get("subscription_data") or {}).get("metadata") or {},
        }
        self.state["checkout_sessions"][session_id] = session
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def _portal_session_create(self, params: dict[str, Any], public: str) -> dict[str, Any]:
        customer = params.get("customer", "")
        if customer not in self.state["customers"]:
            raise missing("customer", customer, param="customer")
        session_id = f"bps_{secrets.token_hex(12)}"
        session = {
            "id": session_id,
            "object": "billing_portal.session",
            "configuration": "bpc_sandbox",
            "created": self.now(),
            "customer": customer,
            "livemode": False,
            "locale": None,
            "on_behalf_of": None,
            "return_url": params.get("return_url") or None,
            "url": f"{public}/portal/{session_id}",
        }
        self.state["portal_sessions"][session_id] = session
        return session

    def _checkout_pay(self, session: dict[str, Any], card: str) -> None:
        customer = session["customer"]
        if card == CARD_FAILS_LATER and customer not in self.state["declining_customers"]:
            self.state["declining_customers"].append(customer)
        sub = self._subscription_start(
            customer, session["_price"], metadata=session["_subscription_metadata"]
        )
        session.update(
            status="complete",
            payment_status="paid",
            subscription=sub["id"],
            invoice=sub["latest_invoice"],
        )
        public = {k: v for k, v in session.items() if not k.startswith("_")}
        self._emit("checkout.session.completed", public)
