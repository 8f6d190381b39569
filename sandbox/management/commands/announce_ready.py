"""`make run`'s last word: once the app answers, say where to go (honcho runs this beside the
app, the worker and the sandbox; it then waits, since honcho stops everything when one process
ends)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Wait until the app answers at SITE_URL, print where to open it, then wait."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--wait", type=float, default=600.0, help="seconds to wait at most")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        site = str(settings.SITE_URL).rstrip("/")
        deadline = time.monotonic() + float(options["wait"])
        while not stop.is_set() and time.monotonic() < deadline:
            if _answers(f"{site}/healthz"):
                self.stdout.write(
                    f"\n  DCVaaS is ready: open {site}/ and choose 'Sign in with GitHub'.\n"
                    f"  Sandbox control page (Cloudflare, DNS, Stripe): "
                    f"http://{settings.SANDBOX_HOST}:{settings.SANDBOX_CLOUDFLARE_PORT}/sandbox/\n"
                )
                break
            stop.wait(0.5)
        else:
            if not stop.is_set():
                self.stderr.write(f"{site}/healthz did not answer; see the web process's log.")
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in honcho: stop quietly
            stop.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
            return int(response.status) < 500
    except (urllib.error.URLError, OSError):
        return False
