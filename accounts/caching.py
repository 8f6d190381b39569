"""Caching what an organization's pages and API answers are built from.

Keys carry the organization's `cache_version`, which every committed write to its domains,
their history or its subscription moves on (`accounts.models.TouchingQuerySet`). A request
reads the version with the organization, before anything else, so whatever it then reads and
caches is at least as new as that version:

- a write that commits before the version is read is in the data read after it;
- a write that commits after it moves the version on, and what the request caches under the
  old version is never asked for again.

The one gap: a process killed between a write's commit and the touch that follows it leaves
the old version in place, and its pages up to `ORGANIZATION_CACHE_SECONDS` old. Nothing is
ever deleted; old versions are simply not asked for again and expire.

Keys also carry a fingerprint of the code and templates: a deploy that changes what a page
or an answer looks like never serves a copy rendered by the previous release.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.core.cache import cache

if TYPE_CHECKING:
    from accounts.models import Organization

T = TypeVar("T")
_SOURCES = ("accounts", "billing", "domains", "dcvaas", "templates")


@lru_cache(maxsize=1)
def release() -> str:
    """A digest of the application's Python code, its templates and the settings pages use."""
    digest = hashlib.sha256(settings.DCV_CNAME_TARGET.encode())
    for folder in _SOURCES:
        for path in sorted((settings.BASE_DIR / folder).rglob("*")):
            if path.suffix in (".py", ".html") and "migrations" not in path.parts:
                digest.update(str(path.relative_to(settings.BASE_DIR)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def organization_key(organization: Organization, name: str, *parts: object) -> str:
    """The cache key of `name` (one kind of cached thing) for `parts` of the organization."""
    detail = hashlib.sha256(repr(parts).encode()).hexdigest()[:24]
    return f"org:{organization.pk}:{organization.cache_version}:{release()}:{name}:{detail}"


def cached(key: str, compute: Callable[[], T]) -> T:
    """The value cached under `key`, computed and stored first if there is none."""
    value: T | None = cache.get(key)
    return remember(key, compute()) if value is None else value


def remember(key: str, value: T) -> T:
    """Cache `value` under `key` (a key from `organization_key`) and return it."""
    cache.set(key, value, settings.ORGANIZATION_CACHE_SECONDS)
    return value
