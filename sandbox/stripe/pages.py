"""The simulator's hosted pages: Checkout (pay with a test card) and the Billing Portal."""

from __future__ import annotations

import copy
import html
import re
import time
from typing import TYPE_CHECKING, Any

from sandbox.server import Request, Response
from sandbox.stripe.wire import CARD_FAILS_LATER, CARD_OK, DECLINES

if TYPE_CHECKING:
    from sandbox.stripe.app import StripeSandbox


def page(title: str, body: str, status: int = 200) -> Response:
    return Response.html(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · Stripe sandbox</title>
<style>body{{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem}}
button{{padding:.5rem 1rem;margin:.25rem 0}} input{{padding:.5rem;width:100%;box-sizing:border-box}}
.note{{color:#555;font-size:.9rem}} .error{{color:#b00}}</style></head><body>
<p class="note">Stripe sandbox: DCVaaS's local Stripe simulator. No real money moves.</p>
{body}</body></html>""",
        status=status,
    )


def checkout_page(sim: StripeSandbox, request: Request, session_id: str) -> Response:
    error = ""
    events: list[dict[str, Any]] = []
    with sim._lock:
        session = sim.state["checkout_sessions"].get(session_id)
        if session is None:
            return page("Not found", "<h1>This checkout page does not exist.</h1>", 404)
        if request.method == "POST":
            card = re.sub(r"\D", "", request.form().get("card_number", ""))
            if session["status"] == "expired":
                error = "This checkout session has expired."
            elif session["status"] != "open":
                error = "This checkout session is already complete."
            elif card in DECLINES:
                error = DECLINES[card][1]
            elif card not in (CARD_OK, CARD_FAILS_LATER):
                error = "Your card number is invalid. Use a test card: 4242 4242 4242 4242."
            else:
                sim._checkout_pay(session, card)
                events = sim._commit()
        name, amount = sim.prices[session["_price"]]
        status = session["status"]
        success_url = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        cancel_url = session["cancel_url"] or success_url
    if events:
        # Like Stripe: the webhooks go out, then the browser returns to the app.
        sim._dispatch(events)
        return Response(status=303, headers={"Location": success_url})
    if status == "expired" and not error:
        return page("Expired", "<h1>This checkout has expired.</h1>", 410)
    if status != "open" and not error:
        return page("Complete", "<h1>This checkout is complete.</h1>")
    message = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
    body = f"""<h1>Subscribe to {html.escape(name)}</h1>
<p><strong>${amount / 100:.2f}</strong> per month</p>{message}
<form method="post">
<label>Card number <input name="card_number" inputmode="numeric" autocomplete="cc-number"
 placeholder="4242 4242 4242 4242" required data-testid="card-number"></label>
<button type="submit" data-testid="pay">Subscribe</button></form>
<p class="note">Test cards: 4242 4242 4242 4242 pays; 4000 0000 0000 0002 is declined.</p>
<p><a href="{html.escape(cancel_url)}" data-testid="cancel">Cancel and go back</a></p>"""
    return page(f"Subscribe to {name}", body, status=402 if error else 200)


def portal_page(sim: StripeSandbox, request: Request, session_id: str) -> Response:
    events: list[dict[str, Any]] = []
    with sim._lock:
        session = sim.state["portal_sessions"].get(session_id)
        if session is None:
            return page("Not found", "<h1>This portal session does not exist.</h1>", 404)
        return_url = session["return_url"] or "/"
        sub = sim._live_subscription(session["customer"])
        if request.method == "POST" and sub is not None:
            action = request.form().get("action", "")
            if action == "cancel":
                if sim.portal_cancel_mode == "immediately":
                    sim._cancel_now(sub, ended_at=sim.now())
                else:
                    sim._set_cancel_at_period_end(sub, True)
            elif action == "renew" and sub["cancel_at_period_end"]:
                sim._set_cancel_at_period_end(sub, False)
            elif (
                action.startswith("price:")
                and action[6:] in sim.prices
                and action[6:] != sub["items"]["data"][0]["price"]["id"]
            ):
                sim._change_price(sub, action[6:])
            events = sim._commit()
        customer = sim.state["customers"][session["customer"]]
        sub = sim._live_subscription(session["customer"])
        current = copy.deepcopy(sub) if sub else None
    if request.method == "POST":
        sim._dispatch(events)
        return Response(status=303, headers={"Location": return_url})
    back = f'<p><a href="{html.escape(return_url)}" data-testid="return">Return</a></p>'
    who = html.escape(customer["name"] or customer["id"])
    if current is None:
        return page("Billing", f"<h1>{who}</h1><p>No active subscription.</p>{back}")
    item = current["items"]["data"][0]
    price_id = item["price"]["id"]
    ends = time.strftime("%B %d, %Y", time.gmtime(item["current_period_end"]))
    state = f"Cancels on {ends}" if current["cancel_at_period_end"] else f"Renews on {ends}"
    buttons = "".join(
        f'<button type="submit" name="action" value="price:{html.escape(pid)}" '
        f'data-testid="switch-{html.escape(name.lower())}">Switch to {html.escape(name)} '
        f"(${amount / 100:.2f}/month)</button><br>"
        for pid, (name, amount) in sim.prices.items()
        if pid != price_id
    )
    if current["cancel_at_period_end"]:
        buttons += (
            '<button type="submit" name="action" value="renew" data-testid="renew">'
            "Renew plan</button>"
        )
    else:
        buttons += (
            '<button type="submit" name="action" value="cancel" data-testid="cancel-plan">'
            "Cancel plan</button>"
        )
    body = f"""<h1>{who}</h1>
<h2>Current plan: {html.escape(sim.prices.get(price_id, (price_id, 0))[0])}</h2>
<p>Status: {html.escape(current["status"])} · {state}</p>
<form method="post">{buttons}</form>{back}"""
    return page("Billing", body)


def control_page(sim: StripeSandbox, request: Request) -> Response:
    """`/sandbox/`: every subscription, and what a Stripe test clock would do to it."""
    if request.method == "POST":
        form = request.form()
        subscription_id, action = form.get("subscription", ""), form.get("action", "")
        try:
            sub = sim.subscription(subscription_id)
        except KeyError:
            return page("Unknown subscription", "<p>No such subscription.</p>", status=404)
        if action == "end-period":
            # The period ends now (stamped with this moment, the app's clock too): Stripe
            # renews (or fails to), or ends a subscription canceled at the period's end, and
            # sends the events.
            sim.end_period_now(str(sub["id"]))
        elif action in ("declines", "pays"):
            sim.set_card_declines(str(sub["customer"]), declines=action == "declines")
        else:
            return page("Unknown action", "<p>Unknown action.</p>", status=400)
        return Response.redirect("/sandbox/")
    rows = []
    for sub in sim.subscriptions():
        end = int(sub["items"]["data"][0]["current_period_end"])
        declining = sub["customer"] in sim.declining_customers()
        ending = " (ends then: canceled at period end)" if sub["cancel_at_period_end"] else ""
        rows.append(
            f"<li><p><code>{html.escape(sub['id'])}</code>: {html.escape(sub['status'])}, "
            f"period ends {time.strftime('%Y-%m-%d %H:%M', time.gmtime(end))} UTC{ending}; "
            f"renewals {'fail' if declining else 'pay'}.</p>"
            f'<form method="post" action="/sandbox/">'
            f'<input type="hidden" name="subscription" value="{html.escape(sub["id"])}">'
            '<button name="action" value="end-period">End the current period now</button> '
            f'<button name="action" value="{"pays" if declining else "declines"}">'
            f"{'Let renewals pay again' if declining else 'Make renewals fail'}</button>"
            "</form></li>"
        )
    listing = "".join(rows) or "<li>No subscriptions yet: upgrade on the app's Billing page.</li>"
    return page(
        "Controls",
        "<h1>Stripe controls</h1>"
        "<p>What a Stripe test clock does, by hand: end a subscription's period now to see a "
        "renewal, a failed payment or a cancellation reach the app (a downgrade with more "
        f"domains than the new plan allows, for example).</p><ul>{listing}</ul>",
    )
