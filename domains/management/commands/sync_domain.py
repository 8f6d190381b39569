"""`manage.py sync_domain HOSTNAME`: sync one domain now and print its state before and after."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains import sync
from domains.models import Domain


def _state(domain: Domain) -> str:
    return (
        f"{domain.status} (hostname {domain.cloudflare_status or '-'}, "
        f"certificate {domain.ssl_status or '-'})"
    )


class Command(BaseCommand):
    help = "Fetch one domain's state from Cloudflare now (or finish its registration/removal)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("hostname")

    def handle(self, *args: Any, **options: Any) -> None:
        hostname = options["hostname"].strip().rstrip(".").lower()
        domain = Domain.objects.filter(hostname=hostname).first()
        if domain is None:
            raise CommandError(f"No domain {hostname} in DCVaaS.")
        before = _state(domain)
        try:
            after = sync.sync_one(domain)
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        result = "removed" if after is None else _state(after)
        self.stdout.write(f"{hostname}: {before} -> {result}")
        if after is not None and after.last_error:
            self.stdout.write(f"last error: {after.last_error}")
        if after is not None:
            when = after.next_sync_at.isoformat() if after.next_sync_at else "not scheduled"
            self.stdout.write(f"next check: {when}")
