"""Starting background work by name, once the transaction that asked for it commits.

Everything below the task layer starts tasks through here, never by importing `domains.tasks`:
the work is named (the tasks' stable names), so a module that records a change does not depend
on the module that reacts to it (Zulip's `queue_event_on_commit`). The tasks are registered
when the app is ready (`DomainsConfig.ready`), so a signature by name runs through the task
itself: eager in tests (`CELERY_TASK_ALWAYS_EAGER`), a queued message otherwise. A bare
`send_task` would skip that registration and ignore the eager setting.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from django.db import transaction


def kick(name: str, *, countdown: float | None = None, **kwargs: Any) -> None:
    """Start the task `name` with `kwargs` after the current transaction commits (at once when
    none is open); `countdown`: seconds to wait before it runs. A rolled-back change starts
    nothing."""

    options: dict[str, Any] = {} if countdown is None else {"countdown": countdown}

    def start() -> None:
        current_app.signature(name, kwargs=kwargs).apply_async(**options)

    transaction.on_commit(start)
