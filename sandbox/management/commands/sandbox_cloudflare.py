"""Run the Cloudflare for SaaS simulator in the foreground, for any Cloudflare client to use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.cloudflare import RUN_DELAYS, CloudflareSandbox, Delays
from sandbox.server import SandboxServer


class Command(BaseCommand):
    help = "Serve the Cloudflare custom hostnames simulator (base URL .../client/v4)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.SANDBOX_CLOUDFLARE_PORT)
        parser.add_argument(
            "--zone-id", default=settings.CLOUDFLARE_ZONE_ID or settings.SANDBOX_CLOUDFLARE_ZONE_ID
        )
        parser.add_argument(
            "--token", default=settings.CLOUDFLARE_API_TOKEN or settings.SANDBOX_CLOUDFLARE_TOKEN
        )
        parser.add_argument("--cname-target", default=settings.DCV_CNAME_TARGET)
        parser.add_argument(
            "--dns-resolver",
            default=settings.DNS_RESOLVER,
            help='"host:port" of the resolver that tells whether a CNAME is in place',
        )
        parser.add_argument(
            "--state-file",
            type=Path,
            default=None,
            help="keep hostnames across restarts in this JSON file",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sandbox = CloudflareSandbox(
            zone_id=options["zone_id"],
            token=options["token"],
            cname_target=options["cname_target"],
            dns_resolver=options["dns_resolver"],
            delays=Delays(**vars(RUN_DELAYS)),
            state_file=options["state_file"],
        )
        server = SandboxServer(sandbox, options["host"], options["port"])
        sandbox.base_url = f"{server.url}{sandbox.prefix}"
        self.stdout.write(f"Cloudflare sandbox API: {sandbox.base_url}")
        self.stdout.write(f"Control page: {server.url}/sandbox/  (zone {sandbox.zone_id})")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            self.stdout.write("Stopped.")
        finally:
            server.stop()
