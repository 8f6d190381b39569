"""Run every sandbox simulator in one process: what `make run` starts beside the app."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from sandbox import cloudflare, dns, github, stripe, tenant
from sandbox.inbox import WebhookInbox
from sandbox.server import SandboxServer


class Command(BaseCommand):
    help = (
        "Run the GitHub, Cloudflare, Stripe and DNS simulators, the webhook inbox and a "
        "tenant's app on loopback until stopped."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SANDBOX:
            raise CommandError("The sandbox is off: set SANDBOX=true (or DEBUG=true).")
        state_dir = settings.SANDBOX_STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        host = settings.SANDBOX_HOST
        name_server = dns.server_from_settings(state_dir)
        customers = cloudflare.app_from_settings(state_dir)
        # One sandbox: the Cloudflare page's CNAME buttons edit the customers' DNS, which the
        # app's own checks read too, and it links to the Stripe simulator's controls.
        customers.customer_dns = name_server
        # The shared origin every domain without an origin of its own is served from.
        customers.ensure_fallback_origin(f"fallback.{customers.zone_name}")
        # Push on: Cloudflare tells the app about certificate events, as after
        # `manage.py cloudflare_notifications setup` at a real account.
        if settings.CLOUDFLARE_WEBHOOK_SECRET:
            customers.alerts.subscribe(
                f"{settings.SITE_URL}/webhooks/cloudflare", settings.CLOUDFLARE_WEBHOOK_SECRET
            )
        customers.stripe_controls_url = f"http://{host}:{settings.SANDBOX_STRIPE_PORT}/sandbox/"
        servers: list[tuple[str, SandboxServer]] = [
            (
                "GitHub OAuth",
                SandboxServer(github.app_from_settings(), host, settings.SANDBOX_GITHUB_PORT),
            ),
            (
                "Cloudflare API",
                SandboxServer(customers, host, settings.SANDBOX_CLOUDFLARE_PORT),
            ),
            (
                "Stripe API",
                SandboxServer(
                    stripe.app_from_settings(state_dir), host, settings.SANDBOX_STRIPE_PORT
                ),
            ),
            ("Webhook inbox", SandboxServer(WebhookInbox(), host, settings.SANDBOX_INBOX_PORT)),
        ]
        # A tenant's app for Test origin, at a name the sandbox DNS resolves to it.
        app_tls, app_plain = tenant.servers(
            tenant.TenantApp(), host, settings.SANDBOX_APP_TLS_PORT, settings.SANDBOX_APP_PORT
        )
        servers += [("Tenant app (HTTPS)", app_tls), ("Tenant app (HTTP)", app_plain)]
        name_server.set_record(tenant.APP_HOSTNAME, "A", host)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        name_server.start()
        self.stdout.write(f"DNS simulator on {name_server.address} (UDP and TCP)")
        for name, server in servers:
            server.start()
            self.stdout.write(f"{name} simulator on {server.url}")
        self.stdout.write(
            f"Sandbox control page: http://{host}:{settings.SANDBOX_CLOUDFLARE_PORT}/sandbox/ "
            f"(state kept in {state_dir})"
        )
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        finally:
            for _name, server in servers:
                server.stop()
            name_server.stop()
