"""Stripe simulator: the few Stripe endpoints DCVaaS calls, its hosted pages, and its webhooks.

It speaks Stripe's wire format, so stripe-python works against it unchanged (`base_addresses`):

- `POST /v1/customers`, `GET /v1/customers/{id}`
- `POST /v1/checkout/sessions` (subscription mode), `GET /v1/checkout/sessions/{id}`,
  `GET /v1/checkout/sessions?customer=...&status=...`, `POST /v1/checkout/sessions/{id}/expire`
- `POST /v1/billing_portal/sessions`
- `GET  /v1/subscriptions/{id}`, `GET /v1/subscriptions?customer=...&status=...` (canceled ones
  only when asked for), `DELETE /v1/subscriptions/{id}` (cancel now), `GET /v1/invoices/{id}`,
  `GET /v1/events/{id}`

Form-encoded bodies with nested keys (`line_items[0][price]`), `Idempotency-Key` replay (same key
and body: the first answer again; another body: 400 `idempotency_error`), secret-key auth (Bearer
or basic), and Stripe-shaped JSON: since API version 2025-03-31 the billing period is on the
subscription items (`items.data[0].current_period_end`).

A person pays on `/checkout/<session id>` with a test card and manages the subscription on
`/portal/<session id>`. Each change sends signed webhook events (`Stripe-Signature: t=..,v1=..`)
to `webhook_url`, as Stripe does, before redirecting back to the app.

Test cards:

| card number          | result                                        |
|----------------------|-----------------------------------------------|
| 4242 4242 4242 4242  | pays                                          |
| 4000 0000 0000 0002  | declined ("Your card was declined.")          |
| 4000 0000 0000 9995  | declined ("Your card has insufficient funds.")|
| 4000 0000 0000 0341  | pays now, every renewal fails (past_due)      |

Controls for tests (thread-safe methods): `hold_events()`, `take_held()`, `release_held()`,
`deliver(events, shuffle_seed=.., duplicate_every=..)`, `resend(event_id)`, `send_event(type,
obj)`, `create_subscription(customer, price)`, `change_price(id, price)`,
`set_subscription_status(id, "past_due" | "unpaid" | "canceled" | "active")`,
`set_card_declines(customer)`, `advance_time(seconds)`, `run_clock()` (after time-machine moved
time), `reset()`. Every delivery is recorded in `deliveries`.
"""

from __future__ import annotations

from sandbox.stripe.app import Delivery, StripeSandbox, WebhookSender, app_from_settings
from sandbox.stripe.wire import parse_form, sign_payload

__all__ = [
    "Delivery",
    "StripeSandbox",
    "WebhookSender",
    "app_from_settings",
    "parse_form",
    "sign_payload",
]
