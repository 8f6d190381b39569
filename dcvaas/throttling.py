"""Per-client-IP throttles that DRF's and allauth's own limits do not cover.

- The GitHub sign-in start (`/accounts/github/login/`): allauth rate-limits its password and
  email views, but not a social provider's login start, which anyone can hit in a loop to make
  us redirect to GitHub (and create half-finished OAuth states in the session table).
- API requests without a valid token: DRF authenticates before it throttles, so a request with
  a wrong token is refused (401) without ever reaching `ApiTokenRateThrottle`; nothing would
  slow down someone guessing tokens. Every 401 an IP earns is counted here, and once an IP is
  over the limit its API requests are refused before authentication is even tried.

Counts live in the shared cache (Redis in production, the database cache without REDIS_URL),
so every web process sees the same numbers. Windows are fixed (a counter per IP and window):
at most twice the rate can get through across a window boundary, which is fine for a limit
meant to blunt abuse, and costs one cache round trip per request.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse

API_PREFIX = "/api/"
_PERIODS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    """`N/period`, as DRF writes rates: `20/min`, `5/s`, `100/hour`, `1000/day`."""

    amount: int
    seconds: int

    @classmethod
    def parse(cls, text: str, *, setting: str) -> Rate:
        amount, _, period = text.partition("/")
        try:
            return cls(int(amount), _PERIODS[period.strip().lower()])
        except (ValueError, KeyError) as error:
            raise ImproperlyConfigured(
                f"{setting}={text!r} is not a rate: write N/s, N/min, N/hour or N/day."
            ) from error


def client_ip(request: HttpRequest) -> str:
    """The client's address, behind as many proxies as ALLAUTH_TRUSTED_PROXY_COUNT says.

    allauth's own rate limits use the same function, so both kinds of limit agree on who the
    client is (and neither trusts an X-Forwarded-For that no proxy of ours wrote).
    """
    try:
        return str(get_adapter(request).get_client_ip(request))
    except PermissionDenied:
        # No address at all (a misconfigured proxy): everyone shares one bucket, which fails
        # closed for abusers rather than letting them through uncounted.
        return "unknown"


def _key(scope: str, ident: str, window: int) -> str:
    return f"throttle:{scope}:{ident}:{window}"


def _window(rate: Rate, now: float) -> tuple[int, int]:
    """The current window's number and the whole seconds until it ends (at least 1)."""
    window = int(now // rate.seconds)
    return window, max(1, math.ceil((window + 1) * rate.seconds - now))


def hit(scope: str, ident: str, rate: Rate) -> int | None:
    """Count one request; None if allowed, else the seconds to wait (for Retry-After).

    Idempotency: none, by design: every call is one more request. On Redis `incr` is atomic,
    so concurrent requests are all counted; on the database cache two exactly simultaneous
    requests can count as one, which only makes the limit slightly looser.
    """
    window, retry_after = _window(rate, time.time())
    key = _key(scope, ident, window)
    # `add` starts the counter only if no other request started it, then `incr` counts.
    cache.add(key, 0, timeout=rate.seconds + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts the window
        cache.set(key, 1, timeout=rate.seconds + 1)
        count = 1
    return retry_after if count > rate.amount else None


def exceeded(scope: str, ident: str, rate: Rate) -> int | None:
    """Like `hit` without counting: the seconds to wait if the limit is already reached."""
    window, retry_after = _window(rate, time.time())
    count = cache.get(_key(scope, ident, window), 0)
    return retry_after if count >= rate.amount else None


def _too_many(retry_after: int, *, api: bool) -> HttpResponse:
    response: HttpResponse
    if api:
        response = JsonResponse(
            {
                "code": "throttled",
                "detail": (
                    "Too many requests without a valid token from your address. "
                    f"Try again in {retry_after} seconds."
                ),
            },
            status=429,
        )
    else:
        response = HttpResponse(
            f"Too many sign-in attempts from your address. Try again in {retry_after} seconds.",
            status=429,
            content_type="text/plain; charset=utf-8",
        )
    response["Retry-After"] = str(retry_after)
    return response


class ThrottleMiddleware:
    """The two per-IP throttles above, in one place; placed before the session middleware.

    The sign-in start counts every request to the GitHub login URL; the API counts only the
    401s an address earns, so well-behaved token clients and the public docs never spend it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._sign_in_path = ""
        self._public_api_paths: tuple[str, ...] = ()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not self._sign_in_path:
            # Resolved on first use: the URLconf is not loaded yet when middleware is built.
            self._sign_in_path = reverse("github_login")
            # The schema and its docs take no token, so they can never earn a 401.
            self._public_api_paths = (reverse("api:schema"), reverse("api:docs"))
        if request.path_info.startswith(API_PREFIX):
            if request.path_info in self._public_api_paths:
                return self.get_response(request)
            return self._api(request)
        if request.path_info == self._sign_in_path:
            rate = Rate.parse(settings.SIGN_IN_THROTTLE_RATE, setting="SIGN_IN_THROTTLE_RATE")
            retry_after = hit("sign_in", client_ip(request), rate)
            if retry_after is not None:
                return _too_many(retry_after, api=False)
        return self.get_response(request)

    def _api(self, request: HttpRequest) -> HttpResponse:
        rate = Rate.parse(settings.API_ANON_THROTTLE_RATE, setting="API_ANON_THROTTLE_RATE")
        ip = client_ip(request)
        retry_after = exceeded("api_anon", ip, rate)
        if retry_after is not None:
            return _too_many(retry_after, api=True)
        response = self.get_response(request)
        if response.status_code == 401:
            hit("api_anon", ip, rate)
        return response
