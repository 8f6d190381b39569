"""What `bench/web.py` measures against, wired in by the settings module it writes for its
server (its URL module routes `hello`), never by the product's own settings.

- `hello`: a bare Django view (no session, no database, no template) served by the same
  process as the product: the baseline every page's latency is compared with.
- `BenchmarkMiddleware`: adds `X-DB-Queries` (SQL statements run for the request) to every
  response, so the benchmark can check that no page's query count grows with the data, and
  `X-Server-Ms` (time spent in Django, from the first middleware in to the response out), so
  it can tell the server's share of a latency from the client's and the network's.

Production never exposes either (a query count tells an attacker how much work a URL costs).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse

QUERY_COUNT_HEADER = "X-DB-Queries"
SERVER_TIME_HEADER = "X-Server-Ms"


def hello(request: HttpRequest) -> HttpResponse:
    """The baseline: the cheapest response Django can give through the full middleware stack."""
    return HttpResponse(b"Hello, world.\n", content_type="text/plain")


class _Counter:
    """An `execute_wrapper` that counts the statements it lets through."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(
        self,
        execute: Callable[..., Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


class BenchmarkMiddleware:
    """Counts every SQL statement run while the request is handled, on every database alias,
    and times the request's way through Django.

    Installed first in MIDDLEWARE so that the session, authentication and cache lookups of
    the other middleware are counted too. Statements run after the response leaves this
    middleware (a streamed body's lazy queries) are not counted; no page streams.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        counter = _Counter()
        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(counter))
            response = self.get_response(request)
        response[QUERY_COUNT_HEADER] = str(counter.count)
        response[SERVER_TIME_HEADER] = f"{(time.perf_counter() - started) * 1000:.3f}"
        return response
