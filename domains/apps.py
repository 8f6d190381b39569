from __future__ import annotations

from django.apps import AppConfig


class DomainsConfig(AppConfig):
    name = "domains"

    def ready(self) -> None:
        # Register the Celery tasks with the app, so that `domains.kick` can start them by name
        # (through the task itself, which honours CELERY_TASK_ALWAYS_EAGER) from modules that
        # must not import them.
        from domains import closing, tasks  # noqa: F401
        from domains.webhooks import members

        # Accounts only sends the signals: the tenants' webhooks about their people, and an
        # organization's deletion (its domains and origins offboarded from Cloudflare).
        members.connect()
        closing.connect()
