"""`manage.py make_staff <github-login>`: let someone who signed in with GitHub into the admin."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User


class Command(BaseCommand):
    help = (
        "Make a user who has signed in with GitHub staff (and superuser, unless --staff-only), "
        "so they can open the admin. Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("login", help="The person's GitHub login, as they signed in with it.")
        parser.add_argument(
            "--staff-only",
            action="store_true",
            help="Staff without every permission: give them permissions in the admin.",
        )
        parser.add_argument("--revoke", action="store_true", help="Take staff rights away.")

    def handle(self, *args: Any, **options: Any) -> None:
        login = options["login"].strip()
        user = User.objects.filter(username__iexact=login).first()
        if user is None:
            raise CommandError(
                f"No one has signed in as {login!r} yet. Sign in with GitHub once "
                "(the 'Sign in with GitHub' button), then run this again."
            )
        if options["revoke"]:
            user.is_staff = user.is_superuser = False
            user.save(update_fields=["is_staff", "is_superuser"])
            self.stdout.write(f"{user.username} is no longer staff.")
            return
        user.is_staff = True
        user.is_superuser = not options["staff_only"]
        user.save(update_fields=["is_staff", "is_superuser"])
        role = "staff" if options["staff_only"] else "staff with every permission"
        self.stdout.write(f"{user.username} is now {role}: the admin is at /admin/.")
