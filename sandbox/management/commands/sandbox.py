"""Run every sandbox simulator in one process: what `make run` starts beside the app."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.cloudflare import parse_delays
from sandbox.run import Ports, start_sandbox


class Command(BaseCommand):
    help = (
        "Run the GitHub, Cloudflare, Stripe and DNS simulators, the webhook inbox and a "
        "tenant's app on loopback until stopped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cloudflare-delays",
            default="",
            help="Cloudflare's step delays in seconds, e.g. "
            "validation=45,issuance=60,deployment=30,spread=0.9 (default: make run's, "
            "records=3,issuance=5,deployment=5)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.SANDBOX:
            raise CommandError("The sandbox is off: set SANDBOX=true (or DEBUG=true).")
        try:
            delays = parse_delays(options["cloudflare_delays"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        state_dir = settings.SANDBOX_STATE_DIR
        state_dir.mkdir(parents=True, exist_ok=True)
        host = settings.SANDBOX_HOST
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        running = start_sandbox(
            state_dir=state_dir,
            host=host,
            ports=Ports(
                github=settings.SANDBOX_GITHUB_PORT,
                cloudflare=settings.SANDBOX_CLOUDFLARE_PORT,
                stripe=settings.SANDBOX_STRIPE_PORT,
                inbox=settings.SANDBOX_INBOX_PORT,
                dns=settings.SANDBOX_DNS_PORT,
                app_tls=settings.SANDBOX_APP_TLS_PORT,
                app=settings.SANDBOX_APP_PORT,
            ),
            site_url=settings.SITE_URL,
            webhook_secret=settings.CLOUDFLARE_WEBHOOK_SECRET,
            stripe_controls_url=f"http://{host}:{settings.SANDBOX_STRIPE_PORT}/sandbox/",
            resolver=settings.DNS_RESOLVER,
            delays=delays,
        )
        self.stdout.write(f"DNS simulator on {running.dns.address} (UDP and TCP)")
        for name, server in running.servers:
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
            running.stop()
