"""Log plumbing: a filter that scrubs secrets, and one line per Celery task.

Our own log lines carry ids only (organization, domain, Cloudflare hostname, token pk), never
tokens, secrets, headers, cookies or payloads. `RedactSecretsFilter` is the safety net under
that rule for lines we do not write ourselves (a library's exception message that quotes a
header, a traceback): it sits on every handler, in the web processes through `LOGGING` and in
Celery workers through `after_setup_logger`.

This module is imported by `logging.config.dictConfig` when Django applies `LOGGING` (the
filter is named there), in every process that calls `django.setup()`, web and worker alike;
that import is what connects the Celery signal handlers below. It must not import models.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from celery import signals

# Raw API tokens (dcv_ + 43 url-safe characters), Stripe keys and webhook secrets: replaced
# whole.
_SECRETS = re.compile(r"dcv_[A-Za-z0-9_\-]{8,}|\b(?:sk|rk)_(?:live|test)_\w+|\bwhsec_\w+")
# Credentials after a marker (a bearer scheme, a header name, a cookie name): the marker is
# kept, so the line still says what was there.
_AFTER_MARKER = re.compile(
    r"(?i)(\b(?:bearer|basic|token)\s+"
    r"|\b(?:sessionid|csrftoken|csrfmiddlewaretoken|client_secret|access_token)=)"
    r"[^\s'\",;&}]+"
)
# A header's whole value, spaces included ("Authorization: Bearer x"), up to its quote or the
# end of the line.
_HEADER = re.compile(
    r"(?i)(\b(?:authorization|cookie|set-cookie|x-api-key|stripe-signature)['\"]?\s*[:=]\s*['\"]?)"
    r"[^'\"\n]+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """`text` with everything shaped like a credential replaced by `[redacted]`."""
    text = _SECRETS.sub(REDACTED, text)
    text = _HEADER.sub(lambda match: match.group(1) + REDACTED, text)
    return _AFTER_MARKER.sub(lambda match: match.group(1) + REDACTED, text)


class RedactSecretsFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed scrubbed.
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        # django.request attaches the request itself, whose repr carries the query string (a
        # token or OAuth code can travel there): keep only the method and path.
        request = getattr(record, "request", None)
        if request is not None and not isinstance(request, str):
            record.request = f"{getattr(request, 'method', '')} {getattr(request, 'path', '')}"
        return True


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_celery_handlers(logger: logging.Logger, **kwargs: Any) -> None:
    """A worker replaces the root logger's handlers with its own: scrub those too."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            handler.addFilter(RedactSecretsFilter())


# --- Celery tasks: one line each -------------------------------------------------------------

task_logger = logging.getLogger("dcvaas.tasks")
_started: dict[str, float] = {}
_MAX_IDS = 10


def _id_like(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | uuid.UUID):
        return True
    if isinstance(value, str):
        # UUIDs and Cloudflare's 32-hex ids; anything else might be data, so it is not printed.
        return bool(
            re.fullmatch(
                r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                r"[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
                value,
            )
        )
    return False


def describe_ids(value: Any) -> str:
    """Task arguments as ids only: lists of ids shortened, any other value shown as its type."""
    if _id_like(value):
        return str(value)
    if isinstance(value, list | tuple):
        shown = [describe_ids(item) for item in value[:_MAX_IDS]]
        more = f",+{len(value) - _MAX_IDS}" if len(value) > _MAX_IDS else ""
        return "[" + ",".join(shown) + more + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}={describe_ids(v)}" for k, v in value.items()) + "}"
    if value is None:
        return "None"
    return f"<{type(value).__name__}>"


@signals.task_prerun.connect
def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id is not None:
        _started[task_id] = time.monotonic()


@signals.task_postrun.connect
def _task_finished(
    task_id: str | None = None,
    task: Any = None,
    args: Any = None,
    kwargs: Any = None,
    retval: Any = None,
    state: str | None = None,
    **extra: Any,
) -> None:
    """One line per task run: name, id, id arguments, outcome, duration (never the result)."""
    started = _started.pop(task_id or "", None)
    duration_ms = (time.monotonic() - started) * 1000 if started is not None else -1.0
    error = f" error={type(retval).__name__}" if isinstance(retval, BaseException) else ""
    task_logger.info(
        "task name=%s id=%s args=%s kwargs=%s outcome=%s duration_ms=%.1f%s",
        getattr(task, "name", "?"),
        task_id,
        describe_ids(list(args or ())),
        describe_ids(dict(kwargs or {})),
        state or "UNKNOWN",
        duration_ms,
        error,
    )
