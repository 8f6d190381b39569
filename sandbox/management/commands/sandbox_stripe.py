"""Run the Stripe simulator alone, in the foreground.

    python manage.py sandbox_stripe --port 8702

Point the app at it with STRIPE_API_BASE=http://127.0.0.1:8702 (the default with SANDBOX=true
and no STRIPE_SECRET_KEY); it sends webhooks to SITE_URL/billing/webhook/.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.server import SandboxServer
from sandbox.stripe import app_from_settings


class Command(BaseCommand):
    help = "Run the Stripe simulator (API, hosted checkout and portal pages, signed webhooks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.SANDBOX_STRIPE_PORT)
        parser.add_argument(
            "--state-dir",
            type=Path,
            default=settings.SANDBOX_STATE_DIR,
            help="Keeps stripe.json here so a restart remembers customers and subscriptions.",
        )
        parser.add_argument(
            "--webhook-url",
            default="",
            help="Where to send events (default: SITE_URL/billing/webhook/).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        app = app_from_settings(options["state_dir"])
        if options["webhook_url"]:
            app.webhook_url = options["webhook_url"]
        server = SandboxServer(app, host=options["host"], port=options["port"])
        self.stdout.write(
            f"Stripe sandbox on {server.url} (API base for STRIPE_API_BASE), sending webhooks "
            f"to {app.webhook_url}. Test card: 4242 4242 4242 4242. Ctrl-C stops it."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
