"""Rate limits and injected faults: Cloudflare's 1200-requests-per-5-minutes counter and its
headers (domains/cloudflare/CONTRACT.md §4), plus the failures tests ask for on purpose."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import format_datetime

from sandbox.cloudflare.model import ApiError
from sandbox.cloudflare.wire import failure
from sandbox.server import Request, Response

FAULT_KINDS = ("429", "500", "502", "503", "slow", "drop")
SERVER_ERRORS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int = 0  # 0 = connection dropped without an answer
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)
    fault: str = ""  # the kind of injected fault it met, if any


@dataclass
class Fault:
    kind: str
    rate: float
    count: int | None
    method: str | None
    path_contains: str | None
    retry_after: int
    delay: float

    def matches(self, request: Request) -> bool:
        if self.method and request.method.upper() != self.method.upper():
            return False
        return not self.path_contains or self.path_contains in request.path


def server_error(status: int) -> Response:
    return Response.json(failure(ApiError(status, 1500, SERVER_ERRORS[status])), status=status)


def throttled(retry_after: int, headers: dict[str, str], now: datetime) -> Response:
    """A 429/971 answer with Retry-After and both rate-limit header families."""
    reset_at = now + timedelta(seconds=retry_after)
    headers = {
        **headers,
        "Retry-After": str(retry_after),
        "Ratelimit": f'"default";r=0;t={retry_after}',
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": format_datetime(reset_at, usegmt=True),
    }
    error = ApiError(429, 971, "Please wait and consider throttling your request speed")
    return Response.json(failure(error), status=429, headers=headers)


class RateCounter:
    """Requests per credential over a sliding window, as Cloudflare counts them per token."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()

    def hit(self, key: str, now: float, *, limit: int, window: int, enforce: bool) -> int | None:
        """Count one request; when enforcing and over `limit`, the Retry-After seconds instead."""
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if enforce and len(hits) >= limit:
                oldest = hits[0] if hits else now
                return max(1, math.ceil(oldest + window - now))
            hits.append(now)
        return None

    def headers(self, key: str, now: float, *, limit: int, window: int) -> dict[str, str]:
        with self._lock:
            hits = [t for t in self._hits.get(key, ()) if t > now - window]
        remaining = max(0, limit - len(hits))
        reset = math.ceil(hits[0] + window - now) if hits else window
        return {
            "Ratelimit": f'"default";r={remaining};t={max(0, reset)}',
            "Ratelimit-Policy": f'"burst";q={limit};w={window}',
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
        }
