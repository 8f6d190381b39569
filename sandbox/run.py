"""Every simulator of `make run` in one process: what `manage.py sandbox` starts, and what a test
starts to check the sandbox as a newcomer meets it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sandbox import cloudflare, dns, github, stripe, tenant
from sandbox.cloudflare import CloudflareSandbox
from sandbox.dns import DnsSandbox
from sandbox.inbox import WebhookInbox
from sandbox.server import SandboxServer


@dataclass(frozen=True)
class Ports:
    """Where each simulator listens (0: a free port, as tests ask)."""

    github: int
    cloudflare: int
    stripe: int
    inbox: int
    dns: int
    app_tls: int
    app: int


@dataclass
class RunningSandbox:
    dns: DnsSandbox
    cloudflare: CloudflareSandbox
    servers: list[tuple[str, SandboxServer]] = field(default_factory=list)

    def stop(self) -> None:
        self.cloudflare.stop_clock()
        for _name, server in self.servers:
            server.stop()
        self.dns.stop()


# Zones whose nameservers are those of a known DNS host (domains/dns/hosts.py).
SAMPLE_ZONES: dict[str, tuple[str, ...]] = {
    "namecheap-customer.dev": ("dns1.registrar-servers.com", "dns2.registrar-servers.com"),
    "cloudflare-customer.dev": ("bob.ns.cloudflare.com", "lola.ns.cloudflare.com"),
    "route53-customer.dev": ("ns-0.awsdns-00.com", "ns-512.awsdns-00.net"),
    "godaddy-customer.dev": ("ns07.domaincontrol.com", "ns08.domaincontrol.com"),
    "dnsmadeeasy-customer.dev": ("ns0.dnsmadeeasy.com", "ns1.dnsmadeeasy.com"),
}


def start_sandbox(
    *,
    state_dir: Path,
    host: str,
    ports: Ports,
    site_url: str,
    webhook_secret: str,
    stripe_controls_url: str,
    resolver: str | None = None,
    delays: cloudflare.Delays | None = None,
) -> RunningSandbox:
    """Start every simulator. Cloudflare runs on its own clock, as the real one does: each
    hostname's validation, issuance and deployment happen at their delays, and their
    notifications are sent then, whether or not anyone reads. `resolver`: the DNS server the
    Cloudflare simulator asks (None: the sandbox's own); `delays`: its steps' (None: those of
    `make run`, RUN_DELAYS)."""
    name_server = dns.server_from_settings(state_dir, host=host, port=ports.dns).start()
    customers = cloudflare.app_from_settings(
        state_dir, dns_resolver=resolver or name_server.address, delays=delays
    )
    # One sandbox: the Cloudflare page's CNAME buttons edit the customers' DNS, which the
    # app's own checks read too, and it links to the Stripe simulator's controls.
    customers.customer_dns = name_server
    # The shared origin every domain without an origin of its own is served from.
    customers.ensure_fallback_origin(f"fallback.{customers.zone_name}")
    # Push on: Cloudflare tells the app about certificate events, as after
    # `manage.py cloudflare_notifications setup` at a real account.
    if webhook_secret:
        customers.alerts.subscribe(f"{site_url}/webhooks/cloudflare", webhook_secret)
    customers.stripe_controls_url = stripe_controls_url
    customers.mail_dir = state_dir / "mail"
    running = RunningSandbox(dns=name_server, cloudflare=customers)
    running.servers = [
        ("GitHub OAuth", SandboxServer(github.app_from_settings(), host, ports.github)),
        ("Cloudflare API", SandboxServer(customers, host, ports.cloudflare)),
        ("Stripe API", SandboxServer(stripe.app_from_settings(state_dir), host, ports.stripe)),
        ("Webhook inbox", SandboxServer(WebhookInbox(), host, ports.inbox)),
    ]
    # A tenant's app for Test origin, at a name the sandbox DNS resolves to it.
    app_tls, app_plain = tenant.servers(tenant.TenantApp(), host, ports.app_tls, ports.app)
    running.servers += [("Tenant app (HTTPS)", app_tls), ("Tenant app (HTTP)", app_plain)]
    name_server.set_record(tenant.APP_HOSTNAME, "A", host)
    # Customers' zones at well-known DNS hosts, so the domain page's steps in each host's words
    # can be seen: add app.<zone> for any of them.
    # Their nameservers are this server too (DNS_AUTHORITATIVE_PORT is its port), so records
    # are checked at "the DNS host" as well as at the resolver.
    for zone, nameservers in SAMPLE_ZONES.items():
        name_server.add_zone(zone)
        name_server.set_record(zone, "NS", list(nameservers))
        for nameserver in nameservers:
            name_server.set_record(nameserver, "A", host)
    for _name, server in running.servers:
        server.start()
    customers.base_url = f"{running.servers[1][1].url}{customers.prefix}"
    customers.start_clock()
    return running
