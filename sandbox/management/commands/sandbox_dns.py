"""Run the DNS simulator alone in the foreground: `dig @127.0.0.1 -p 8853 app.example.test`."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.dns import DnsSandbox


class Command(BaseCommand):
    help = "Serve the sandbox DNS server (UDP and TCP) on loopback until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=settings.SANDBOX_HOST)
        parser.add_argument("--port", type=int, default=settings.SANDBOX_DNS_PORT)
        parser.add_argument(
            "--state-file",
            type=Path,
            default=None,
            help="JSON file the records are loaded from and saved to (default: none, in memory).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server = DnsSandbox(
            options["host"],
            options["port"],
            state_file=options["state_file"],
            default_target=settings.DCV_CNAME_TARGET,
        ).start()
        self.stdout.write(f"Sandbox DNS server on {server.address} (UDP and TCP)")
        if server.state_file is not None:
            self.stdout.write(f"Records are kept in {server.state_file}")
        for record in server.records():
            self.stdout.write(
                f"  {record.name} {record.ttl} {record.rtype} {' '.join(record.values)}"
            )
        # SIGTERM (honcho, docker stop) ends the wait like Ctrl-C does.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            server.wait()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
