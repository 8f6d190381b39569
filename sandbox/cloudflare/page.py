"""The simulator's control page at `/sandbox/`: play the customer and Cloudflare by hand.

Plain HTML forms with POST-redirect-GET, no JavaScript, no auth (it only listens on loopback).
"""

from __future__ import annotations

import email
import email.policy
import re
from collections import Counter
from html import escape
from typing import TYPE_CHECKING

from sandbox.cloudflare.model import HELD_ZONE
from sandbox.server import Request, Response

if TYPE_CHECKING:
    from sandbox.cloudflare.app import CloudflareSandbox

ACTIONS = {
    "cname": "The customer added the CNAME",
    "wrongcname": "The customer's CNAME points elsewhere",
    "uncname": "Remove the CNAME",
    "block": "Block",
    "move": "Move",
    "refresh": "Refresh",
}
# Where a mistaken CNAME points: a name that is not ours (the "wrong CNAME" scenario).
ELSEWHERE = "old-host.other-provider.net"
# The DNS mistakes the app tells apart (domains/dns/records.py), each put in place at the
# customer's DNS by one button, so every message can be seen in `make run`.
MISTAKES = {
    "zone_appended_to_name": "CNAME made at the name with the zone added twice",
    "zone_appended_to_value": "CNAME value with the zone added",
    "conflicting_records": "An A record where the CNAME goes",
    "proxied_at_cloudflare": "Proxied at Cloudflare (orange cloud)",
    "wildcard_shadow": "A wildcard record answers instead",
    "stale_txt": "An old TXT value",
    "caa_blocks": "CAA allowing another CA only",
    "caa_lookup_failed": "CAA lookups fail (SERVFAIL)",
    "dnssec_broken": "DNSSEC broken (stale DS)",
    "unknown": "The DNS host does not answer",
    "fixed": "None: only the right CNAME",
}


def handle_page(sandbox: CloudflareSandbox, request: Request) -> Response:
    if request.method == "POST" and request.path.rstrip("/") == "/sandbox/action":
        return _act(sandbox, request)
    if request.method == "GET" and request.path == "/sandbox/":
        return Response.html(_render(sandbox))
    if request.method == "GET" and request.path == "/sandbox":
        return Response.redirect("/sandbox/")
    if request.method == "GET" and request.path == "/sandbox/requests.json":
        # How many API requests the simulator has answered, for benchmarks counting calls.
        methods = Counter(r.method for r in sandbox.requests)
        return Response.json({"requests": sum(methods.values()), "by_method": dict(methods)})
    return Response.html("<p>Not found</p>", status=404)


def _act(sandbox: CloudflareSandbox, request: Request) -> Response:
    form = request.form()
    hostname, action = form.get("hostname", ""), form.get("action", "")
    try:
        if action in ("cname", "wrongcname", "uncname"):
            sandbox.hostname(hostname)  # a LookupError for a hostname the zone does not have
            _customer_cname(sandbox, hostname, action)
        elif action == "mistake" and sandbox.customer_dns is not None:
            sandbox.hostname(hostname)
            if form.get("mistake", "") not in MISTAKES:
                return Response.html("<p>Unknown mistake</p>", status=400)
            _mistake(sandbox, hostname, form["mistake"])
        elif action == "block":
            sandbox.set_state(hostname, status="blocked", verification_errors=[HELD_ZONE])
        elif action == "move":
            sandbox.set_state(hostname, status="moved")
        elif action == "refresh":
            sandbox.refresh(hostname)
        else:
            return Response.html("<p>Unknown action</p>", status=400)
    except LookupError:
        return Response.html(f"<p>No custom hostname {escape(hostname)}</p>", status=404)
    return Response.redirect("/sandbox/")


def _customer_cname(sandbox: CloudflareSandbox, hostname: str, action: str) -> None:
    """The customer edits their DNS. With the DNS simulator beside this one (`make run`), the
    record is written there, so the app's own DNS check sees what Cloudflare sees; alone, the
    simulator is only told whether the CNAME is in place."""
    dns = sandbox.customer_dns
    if dns is None:
        sandbox.set_cname(hostname, present=action == "cname")
        return
    if action == "uncname":
        dns.delete_record(hostname, "CNAME")
    else:
        dns.cname(hostname, sandbox.cname_target if action == "cname" else ELSEWHERE)
    sandbox.set_cname(hostname, None)  # Cloudflare asks DNS from now on


def _mistake(sandbox: CloudflareSandbox, hostname: str, mistake: str) -> None:
    """Put one DNS mistake in place at the customer's DNS (after undoing any earlier one)."""
    dns = sandbox.customer_dns
    assert dns is not None
    zone = dns.zone_of(hostname) or hostname.split(".", 1)[-1]
    target = sandbox.cname_target
    txt_name = f"_cf-custom-hostname.{hostname}"
    # Undo: every record and fault a mistake below may have left.
    for name in (hostname, f"{hostname}.{zone}", f"*.{zone}", txt_name):
        dns.delete_record(name)
    dns.delete_record(zone, "CAA")
    for name in (hostname, zone):
        dns.heal(name)
    dns.heal(zone, "CAA")
    sandbox.set_cname(hostname, None)  # Cloudflare asks DNS from now on
    if mistake == "zone_appended_to_name":
        dns.cname(f"{hostname}.{zone}", target)
    elif mistake == "zone_appended_to_value":
        dns.cname(hostname, f"{target}.{zone}")
    elif mistake == "conflicting_records":
        dns.set_record(hostname, "A", "203.0.113.7")
    elif mistake == "proxied_at_cloudflare":
        dns.set_record(hostname, "A", ["104.16.132.229", "104.16.133.229"])
    elif mistake == "wildcard_shadow":
        dns.cname(f"*.{zone}", "parked.registrar-park.example")
    elif mistake == "stale_txt":
        dns.cname(hostname, target)
        dns.set_record(txt_name, "TXT", "an-old-verification-value")
    elif mistake == "caa_blocks":
        dns.cname(hostname, target)
        dns.set_record(zone, "CAA", '0 issue "digicert.com"')
    elif mistake == "caa_lookup_failed":
        dns.cname(hostname, target)
        dns.fail(zone, "servfail", "CAA")
    elif mistake == "dnssec_broken":
        dns.fail(zone, "dnssec")
    elif mistake == "unknown":
        dns.fail(hostname, "timeout")
    else:  # fixed
        dns.cname(hostname, target)


def _render(sandbox: CloudflareSandbox) -> str:
    rows = []
    overrides = sandbox.cname_overrides()
    for item in sandbox.hostnames():
        name = escape(item["hostname"])
        errors = [*item.get("verification_errors", [])]
        errors += [e["message"] for e in item["ssl"].get("validation_errors", [])]
        buttons = "".join(
            f'<button name="action" value="{key}">{escape(label)}</button> '
            for key, label in ACTIONS.items()
        )
        if sandbox.customer_dns is not None:
            options = "".join(
                f'<option value="{key}">{escape(label)}</option>' for key, label in MISTAKES.items()
            )
            buttons += (
                f'<br><label>DNS mistake <select name="mistake">{options}</select></label> '
                '<button name="action" value="mistake">Put it in place</button>'
            )
        rows.append(
            "<tr>"
            f"<td>{name}</td>"
            f"<td>{_cname_label(overrides.get(item['hostname']))}</td>"
            f"<td>{escape(item['status'])}</td>"
            f"<td>{escape(item['ssl']['status'])}</td>"
            f"<td>{escape('; '.join(errors))}</td>"
            f"<td>{_route_label(sandbox.route(item['hostname']))}</td>"
            f'<td><form method="post" action="/sandbox/action">'
            f'<input type="hidden" name="hostname" value="{name}">{buttons}</form></td>'
            "</tr>"
        )
    table = "".join(rows) or '<tr><td colspan="7">No custom hostnames yet.</td></tr>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Cloudflare sandbox</title>
<style>body{{font-family:sans-serif;margin:2rem}}td,th{{padding:.3rem .6rem;text-align:left}}
td:first-child{{white-space:nowrap}}
tr:nth-child(even){{background:#f4f4f4}}</style></head>
<body><h1>Cloudflare for SaaS sandbox</h1>
<p>Zone <code>{escape(sandbox.zone_id)}</code>; customers CNAME to
<code>{escape(sandbox.cname_target)}</code>.
API: <code>{escape(sandbox.base_url or sandbox.prefix)}</code>.
Reload to see time-driven transitions.</p>
<table><thead><tr><th>Hostname</th><th>CNAME</th><th>Status</th><th>SSL</th><th>Errors</th>
<th>Traffic goes to</th><th></th></tr></thead>
<tbody>{table}</tbody></table>
{_records_section(sandbox)}
{_dns_section(sandbox)}
{_mail_section(sandbox)}
<h2>Stripe</h2>
<p>End a subscription's period, or make its renewals fail, on the
<a href="{escape(sandbox.stripe_controls_url)}">Stripe controls</a>.</p></body></html>
"""


def _route_label(route: dict[str, str | int]) -> str:
    if "error" in route:
        return f"error {route['error']} ({escape(str(route.get('reason', '')))})"
    return (
        f"{escape(str(route['origin']))} <small>via {escape(str(route['via']))}, "
        f"SNI {escape(str(route['sni']))}</small>"
    )


def _records_section(sandbox: CloudflareSandbox) -> str:
    rows = "".join(
        f"<tr><td>{escape(r['name'])}</td><td>{escape(r['type'])}</td>"
        f"<td>{escape(r['content'])}</td><td>{'proxied' if r['proxied'] else 'DNS only'}</td>"
        f"<td>{escape(r.get('comment', ''))}</td></tr>"
        for r in sandbox.dns_records()
    )
    return (
        f"<h2>Zone records</h2><p>The DNS records of the SaaS zone "
        f"<code>{escape(sandbox.zone_name)}</code>: one per tenant origin. Change an origin's "
        "address in the app and its one record changes; every hostname on it follows.</p>"
        "<table><thead><tr><th>Name</th><th>Type</th><th>Content</th><th>Proxy</th>"
        "<th>Comment</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=5>No records.</td></tr>'}</tbody></table>"
    )


def _dns_section(sandbox: CloudflareSandbox) -> str:
    dns = sandbox.customer_dns
    if dns is None:
        return "<h2>DNS</h2><p>No DNS simulator beside this one: the CNAME column decides.</p>"
    rows = "".join(
        f"<tr><td>{escape(record.name)}</td><td>{escape(record.rtype)}</td>"
        f"<td>{escape(' '.join(record.values))}</td></tr>"
        for record in dns.records()
    )
    return (
        f"<h2>DNS</h2><p>The customers' DNS, served at <code>{escape(dns.address)}</code>: "
        "the app's Check now and this simulator both ask it, so they agree.</p>"
        "<table><thead><tr><th>Name</th><th>Type</th><th>Value</th></tr></thead>"
        f"<tbody>{rows or '<tr><td colspan=3>No records.</td></tr>'}</tbody></table>"
    )


MAIL_SHOWN = 10
_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def _mail_section(sandbox: CloudflareSandbox) -> str:
    """The app's sandbox mailbox (Django's file backend writes one file per connection, its
    messages separated by a line of dashes): the newest emails, their links clickable."""
    folder = sandbox.mail_dir
    if folder is None:
        return ""
    files = (
        sorted(folder.glob("*.log"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        if folder.is_dir()
        else []
    )
    messages = [
        email.message_from_bytes(part.strip(), policy=email.policy.default)
        for path in files
        for part in path.read_bytes().split(_SEPARATOR)
        if part.strip()
    ][-MAIL_SHOWN:]
    items = []
    for message in reversed(messages):
        plain = message.get_body(preferencelist=("plain",))
        text = plain.get_content() if plain is not None else ""
        body = re.sub(r"(https?://[^\s<]+)", r'<a href="\1">\1</a>', escape(text))
        items.append(
            f"<details><summary><strong>{escape(str(message['Subject']))}</strong> to "
            f"{escape(str(message['To']))} <small>from {escape(str(message['From']))}</small>"
            f"</summary><pre>{body}</pre></details>"
        )
    return (
        "<h2>Mail</h2><p>What the app emailed (the sandbox sends no real email); newest "
        f"first, at most {MAIL_SHOWN}.</p>" + ("".join(items) or "<p>No email yet.</p>")
    )


def _cname_label(present: bool | None) -> str:
    if present is None:
        return "as DNS says"
    return "added" if present else "removed"
