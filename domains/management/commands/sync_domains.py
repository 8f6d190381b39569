"""`manage.py sync_domains`: one full sync cycle in the foreground, without a worker.

Claims the due domains exactly as the beat-driven cycle does (so it is safe to run while
workers are running: no domain is taken twice), fetches them with the cheaper strategy, and
prints a progress bar and a summary.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from domains import sync
from domains.models import SyncRun

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Run one sync cycle now, in this process, and print what it did."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-progress", action="store_true", help="Print only the summary (for logs)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        total = 0
        done = 0
        show = not options["no_progress"]

        def on_plan(run: SyncRun) -> None:
            nonlocal total
            total = run.claimed
            self.stdout.write(
                f"{run.due} due, {run.claimed} claimed; strategy: {run.get_strategy_display()}"
            )

        def progress(count: int) -> None:
            nonlocal done
            done = min(total, done + count)
            if show and total:
                filled = BAR_WIDTH * done // total
                bar = "#" * filled + "-" * (BAR_WIDTH - filled)
                self.stdout.write(f"\r[{bar}] {done}/{total}", ending="")
                self.stdout.flush()

        run = sync.run_cycle(trigger="command", on_plan=on_plan, progress=progress)
        if show and total:
            self.stdout.write("")
        elapsed = time.monotonic() - started
        lines = [
            ("due", run.due),
            ("claimed", run.claimed),
            ("fetched", run.fetched),
            ("changed", run.changed),
            ("Cloudflare calls", run.cloudflare_calls),
            ("strategy", run.strategy),
            ("zone size", run.zone_size or "not counted (too few due to need it)"),
            ("errors", run.errors),
            (
                "budget exhausted",
                "yes (the rest waits for the next cycle)" if run.budget_exhausted else "no",
            ),
            ("time", f"{elapsed:.2f}s"),
        ]
        for label, value in lines:
            self.stdout.write(f"{label + ':':<18}{value}")
