"""The shared outbound rate budget for Cloudflare's API.

Cloudflare allows 1,200 requests per 5 minutes per token, counted across everything that uses the
token; going over blocks *every* call for minutes. All web processes and workers therefore spend
from one budget stored outside any process:

- in Redis when `settings.REDIS_URL` is set (one Lua script per spend, on a per-window key that
  expires with the window), or
- in the database otherwise (`domains.models.RateBudgetCounter`: one row per budget, spent with a
  single conditional UPDATE that behaves the same on SQLite and PostgreSQL).

The window is fixed (aligned on multiples of `CLOUDFLARE_RATE_WINDOW` seconds since the epoch).
A slice of it, `CLOUDFLARE_RATE_RESERVED`, is kept for people: "bulk" callers (the sync loop) may
only spend up to `limit - reserved` per window, "user" callers (add, delete, check now) up to the
whole limit, so a large sync can never starve a person waiting on a page; and the sync loop's
listings ("listing") only `CLOUDFLARE_RATE_LISTING_SHARE` of the bulk slice, so a listing of a
large zone leaves room in its window for the GETs that push hints and pending domains need. A
429 from Cloudflare pauses everybody until its reset time (`pause_until`).

Limits are read from settings on every call, so `override_settings` and a changed environment
apply without a restart.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When

from domains.models import RateBudgetCounter

Priority = Literal["user", "bulk", "listing"]
PRIORITIES: tuple[str, ...] = ("user", "bulk", "listing")


class RateBudgetExhausted(Exception):  # noqa: N818 - the name the callers know it by
    """No allowance left (or everyone is paused); `retry_after` says when to try again."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = max(0.0, float(retry_after))
        super().__init__(f"outbound rate budget exhausted; retry in {self.retry_after:.1f}s")


class Usage(NamedTuple):
    """Spend of the current window, for the staff status page."""

    used: int
    limit: int
    window_reset_at: datetime


class _Limits(NamedTuple):
    limit: int
    window: int
    reserved: int
    listing_share: float

    def cap(self, priority: str) -> int:
        if priority == "user":
            return self.limit
        bulk = self.limit - self.reserved
        if priority == "listing":
            return max(1, math.floor(bulk * self.listing_share))
        return bulk


def _limits() -> _Limits:
    limit = int(settings.CLOUDFLARE_RATE_LIMIT)
    window = int(settings.CLOUDFLARE_RATE_WINDOW)
    reserved = int(settings.CLOUDFLARE_RATE_RESERVED)
    share = float(settings.CLOUDFLARE_RATE_LISTING_SHARE)
    if limit < 1 or window < 1 or not 0 <= reserved < limit or not 0 < share <= 1:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            "CLOUDFLARE_RATE_LIMIT and CLOUDFLARE_RATE_WINDOW must be positive and "
            "CLOUDFLARE_RATE_RESERVED must be at least 0 and below CLOUDFLARE_RATE_LIMIT, and "
            "CLOUDFLARE_RATE_LISTING_SHARE above 0 and at most 1 "
            f"(got limit={limit}, window={window}, reserved={reserved}, listing share={share})."
        )
    return _Limits(limit, window, reserved, share)


class _Attempt(NamedTuple):
    granted: bool
    retry_after: float  # seconds until a retry can succeed (0 when granted)


# ---------------------------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------------------------
# One round trip, atomic on the server: check the pause, then spend only if it fits the cap.
# Returns {1, used} when granted, {0, used} when the window is full, {-1, paused_until} (as a
# string, since Lua numbers come back truncated to integers) while paused.
_SPEND_LUA = """
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > tonumber(ARGV[3]) then
  return {-1, tostring(paused)}
end
local cost = tonumber(ARGV[1])
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + cost > tonumber(ARGV[2]) then
  return {0, used}
end
used = redis.call('INCRBY', KEYS[1], cost)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, used}
"""

# Only ever moves the pause later: two processes that saw different 429s keep the longer one.
_PAUSE_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 1
"""

_redis_clients: dict[str, object] = {}
_redis_lock = threading.Lock()


def _redis(url: str) -> object:
    # One client (and connection pool) per process and URL; redis-py re-creates the pool's
    # connections after a fork, so workers forked from a parent are safe.
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
            _redis_clients[url] = client
        return client


class _RedisBackend:
    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.client = _redis(url)
        self.spend_script = self.client.register_script(_SPEND_LUA)  # type: ignore[attr-defined]
        self.pause_script = self.client.register_script(_PAUSE_LUA)  # type: ignore[attr-defined]

    def _window_key(self, window_start: int) -> str:
        return f"dcvaas:ratebudget:{self.name}:{window_start}"

    @property
    def _pause_key(self) -> str:
        return f"dcvaas:ratebudget:{self.name}:pause"

    def try_spend(self, cost: int, cap: int, now: float, limits: _Limits) -> _Attempt:
        window_start = int(now // limits.window) * limits.window
        # The key outlives its window a little so that usage() near the boundary still reads it.
        ttl_ms = (limits.window + 60) * 1000
        status, value = self.spend_script(
            keys=[self._window_key(window_start), self._pause_key],
            args=[cost, cap, repr(now), ttl_ms],
        )
        if int(status) == 1:
            return _Attempt(True, 0.0)
        if int(status) == -1:
            return _Attempt(False, float(value) - now)
        return _Attempt(False, window_start + limits.window - now)

    def pause_until(self, until: float, now: float) -> None:
        ttl_ms = max(1, math.ceil((until - now) * 1000)) + 1000
        self.pause_script(keys=[self._pause_key], args=[repr(until), ttl_ms])

    def used(self, window_start: int) -> int:
        return int(self.client.get(self._window_key(window_start)) or 0)  # type: ignore[attr-defined]

    def paused_until(self) -> float:
        return float(self.client.get(self._pause_key) or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------
class _DatabaseBackend:
    def __init__(self, name: str) -> None:
        self.name = name

    def _ensure_row(self) -> None:
        if RateBudgetCounter.objects.filter(name=self.name).exists():
            return
        try:
            # A savepoint, so that losing the race to another process's INSERT does not break
            # a caller's surrounding transaction.
            with transaction.atomic():
                RateBudgetCounter.objects.create(name=self.name)
        except IntegrityError:
            pass  # another process created it first: exactly what we wanted

    def try_spend(self, cost: int, cap: int, now: float, limits: _Limits) -> _Attempt:
        window_start = int(now // limits.window) * limits.window
        rows = RateBudgetCounter.objects.filter(name=self.name, paused_until__lte=now)
        # One statement decides and spends: either the row is in this window and has room, or it
        # is still on an older window and restarts at `cost`. SET expressions read the old row,
        # so the CASE sees the window the row was in before this UPDATE. A process whose clock
        # runs behind never moves the window back (it matches neither branch and waits).
        fits = Q(window_start=window_start, used__lte=cap - cost) | Q(window_start__lt=window_start)
        spend = {
            "used": Case(
                When(window_start=window_start, then=F("used") + cost), default=Value(cost)
            ),
            "window_start": Value(window_start),
        }
        if rows.filter(fits).update(**spend):
            return _Attempt(True, 0.0)
        row = RateBudgetCounter.objects.filter(name=self.name).values("paused_until").first()
        if row is None:
            self._ensure_row()
            if rows.filter(fits).update(**spend):
                return _Attempt(True, 0.0)
            row = RateBudgetCounter.objects.filter(name=self.name).values("paused_until").first()
        if row is not None and row["paused_until"] > now:
            return _Attempt(False, row["paused_until"] - now)
        # Full for this window (or, with a skewed clock, the row is on a window we have not
        # reached yet; the next window start is then the right time to look again).
        return _Attempt(False, window_start + limits.window - now)

    def pause_until(self, until: float, now: float) -> None:
        self._ensure_row()
        # Conditional, so the pause only ever moves later whatever order processes write in.
        RateBudgetCounter.objects.filter(name=self.name, paused_until__lt=until).update(
            paused_until=until
        )

    def used(self, window_start: int) -> int:
        row = RateBudgetCounter.objects.filter(name=self.name).values("window_start", "used")
        found = row.first()
        if found is None or found["window_start"] != window_start:
            return 0
        return int(found["used"])

    def paused_until(self) -> float:
        row = RateBudgetCounter.objects.filter(name=self.name).values("paused_until").first()
        return float(row["paused_until"]) if row else 0.0


# ---------------------------------------------------------------------------------------------
# The budget
# ---------------------------------------------------------------------------------------------
class RateBudget:
    """A rate budget shared by every process through Redis or the database.

    `clock` must be wall-clock epoch seconds (windows and pauses are compared across processes);
    tests pass a fake clock and a `sleep` that advances it.
    """

    def __init__(
        self,
        name: str = "cloudflare",
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self._clock = clock
        self._sleep = sleep

    def _backend(self) -> _RedisBackend | _DatabaseBackend:
        # Chosen per call, so tests and commands that change REDIS_URL see it at once.
        url = getattr(settings, "REDIS_URL", "")
        return _RedisBackend(self.name, url) if url else _DatabaseBackend(self.name)

    def acquire(
        self,
        priority: Priority | str = "user",
        cost: int = 1,
        wait: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Spend `cost` requests of this window's allowance for `priority`.

        With `wait`, sleeps until the spend fits (the window resets or a pause ends), for at
        most `timeout` seconds (None: as long as it takes). Raises `RateBudgetExhausted` with
        the time to wait when it does not fit (at once when `wait` is false, or when the wait
        would outlast `timeout`). Never spends partially. Call it outside any transaction (as
        every outside call should be): in the database form, a spend inside one is not seen by
        other processes until it commits, and holds SQLite's write lock until then.
        """
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, not {priority!r}")
        limits = _limits()
        cap = limits.cap(priority)
        if not 1 <= cost <= cap:
            raise ValueError(f"cost must be between 1 and {cap} for {priority!r}, not {cost}")
        backend = self._backend()
        deadline = None if timeout is None else self._clock() + timeout
        while True:
            now = self._clock()
            attempt = backend.try_spend(cost, cap, now, limits)
            if attempt.granted:
                return
            retry_after = max(attempt.retry_after, 0.0)
            if not wait or (deadline is not None and now + retry_after > deadline):
                raise RateBudgetExhausted(retry_after)
            # A little jitter, so that processes waiting for the same reset do not all arrive
            # in the same millisecond and mostly lose the race again.
            self._sleep(retry_after + random.uniform(0, 0.05))  # noqa: S311 - not security

    def pause_until(self, ts: float) -> None:
        """Stop every caller, in every process, from spending until epoch second `ts`."""
        self._backend().pause_until(float(ts), self._clock())

    def paused_until(self) -> datetime | None:
        """When the current pause ends, or None if nobody is paused."""
        until = self._backend().paused_until()
        if until <= self._clock():
            return None
        return datetime.fromtimestamp(until, tz=UTC)

    def share_used(self, priority: str = "bulk") -> float:
        """How much of `priority`'s allowance this window has spent (everyone's calls count):
        0.0 untouched, 1.0 and more when it has none left."""
        limits = _limits()
        window_start = int(self._clock() // limits.window) * limits.window
        return self._backend().used(window_start) / limits.cap(priority)

    def usage(self) -> Usage:
        """`(used, limit, window_reset_at)` for the current window."""
        limits = _limits()
        window_start = int(self._clock() // limits.window) * limits.window
        used = self._backend().used(window_start)
        reset_at = datetime.fromtimestamp(window_start + limits.window, tz=UTC)
        return Usage(used, limits.limit, reset_at)


budget = RateBudget()
