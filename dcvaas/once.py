"""One-time form keys. A form whose POST makes a secret that is shown once (an API token, a new
webhook endpoint, a rotated signing secret) carries a random key; the first POST with it acts,
and a resubmission (a reload of the answer, a double click) finds the key spent and acts no
more, so the secret just shown is never silently replaced by another nobody saw.

Keys are spent in the shared cache (every process sees them) for a day.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest

KEY_FIELD = "once"
SPENT_SECONDS = 24 * 3600


def new_key() -> str:
    return secrets.token_urlsafe(16)


def form_key(request: HttpRequest) -> dict[str, Any]:
    """Context processor: a fresh `once_key` for the forms of every page."""
    return {"once_key": new_key(), "once_field": KEY_FIELD}


def spend(request: HttpRequest) -> bool:
    """Whether this POST's key is fresh (and now spent); False for a resubmission or a form
    without a key."""
    key = request.POST.get(KEY_FIELD, "")
    if not key or len(key) > 64:
        return False
    return bool(cache.add(f"form-once:{key}", True, timeout=SPENT_SECONDS))
