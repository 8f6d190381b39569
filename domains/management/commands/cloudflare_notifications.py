"""`manage.py cloudflare_notifications setup --url ...` / `status`: Cloudflare's push.

`setup` finds the SaaS custom hostnames alert's type in the account's available alerts (by its
documented display name: the type value is not documented, domains/cloudflare/CONTRACT.md §11.1),
then creates or updates one webhook destination (our URL and CLOUDFLARE_WEBHOOK_SECRET) and one
policy sending that alert there. Running it again changes nothing but what changed. `status` shows
both.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from domains.cloudflare import CloudflareClient, CloudflareError
from domains.models import CloudflareHint
from domains.push.setup import (
    DESTINATION_NAME,
    POLICY_NAME,
    SAAS_ALERT_NAME,
    PushSetupError,
    push_setup,
    push_status,
)


class Command(BaseCommand):
    help = "Set up (or show) Cloudflare's notifications of custom hostname certificate events."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        setup = sub.add_parser("setup", help="create or update the destination and the policy")
        setup.add_argument(
            "--url",
            required=True,
            help="where Cloudflare sends notifications: https://<your site>/webhooks/cloudflare",
        )
        sub.add_parser("status", help="show the destination, the policy and recent hints")

    def handle(self, *args: Any, **options: Any) -> None:
        client = CloudflareClient(max_wait=10.0)
        try:
            if options["action"] == "setup":
                result = push_setup(client, url=options["url"])
                self.stdout.write(
                    f"Alert type for “{SAAS_ALERT_NAME}”: {result.alert_type} (discovered "
                    "from the account's available alerts)"
                )
                self.stdout.write(f"Destination “{DESTINATION_NAME}”: {result.destination}")
                self.stdout.write(f"Policy “{POLICY_NAME}”: {result.policy}")
                self.stdout.write("Push is on: Cloudflare now tells DCVaaS about certificates.")
                return
            status = push_status(client)
        except PushSetupError as error:
            raise CommandError(str(error)) from error
        except CloudflareError as error:
            raise CommandError(f"Cloudflare refused: {error}") from error
        self.stdout.write(status.summary)
        last = CloudflareHint.objects.order_by("-received_at").first()
        self.stdout.write(
            "Last notification received: "
            + (f"{last.received_at:%Y-%m-%d %H:%M:%S} UTC ({last})" if last else "none yet")
        )
        if not settings.CLOUDFLARE_WEBHOOK_SECRET:
            self.stdout.write("CLOUDFLARE_WEBHOOK_SECRET is empty: the receiver refuses all.")
