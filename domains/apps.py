from __future__ import annotations

from django.apps import AppConfig


class DomainsConfig(AppConfig):
    name = "domains"

    def ready(self) -> None:
        # Register the Celery tasks with the app, so that `domains.kick` can start them by name
        # (through the task itself, which honours CELERY_TASK_ALWAYS_EAGER) from modules that
        # must not import them.
        from domains import tasks  # noqa: F401
        from domains.webhooks import members

        # The tenants' webhooks about their people (accounts only sends the signals).
        members.connect()
