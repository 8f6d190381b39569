"""Does a hostname CNAME (possibly through a chain) to the SaaS target? Asked of a real resolver."""

from __future__ import annotations

import threading
import time

import dns.exception
import dns.rdatatype
import dns.resolver

MAX_CHAIN = 8


def _name(value: str) -> str:
    return value.rstrip(".").lower()


class CnameChecker:
    """Follows a hostname's CNAME chain through `resolver` ("host:port"); answers are cached.

    Cloudflare checks on a backoff schedule, so a short cache is faithful, and it keeps a list
    of thousands of pending hostnames from costing thousands of lookups per page view.
    """

    def __init__(self, *, resolver: str, target: str, cache_seconds: float = 1.0) -> None:
        self.target = _name(target)
        self.cache_seconds = cache_seconds
        self._resolver: dns.resolver.Resolver | None = None
        if resolver:
            host, _, port = resolver.rpartition(":")
            if not host:  # a bare host, no port
                host, port = port, "53"
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = [host.strip("[]")]
            self._resolver.port = int(port)
            # A loopback resolver answers in milliseconds; a short lifetime keeps a missing one
            # from stalling every API call that evaluates pending hostnames.
            self._resolver.timeout = self._resolver.lifetime = 0.5
            self._resolver.cache = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, bool]] = {}

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def present(self, hostname: str, *, fresh: bool = False) -> bool:
        if self._resolver is None:
            return False
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(hostname)
        if cached and not fresh and cached[0] > now:
            return cached[1]
        answer = self._lookup(hostname)
        with self._lock:
            self._cache[hostname] = (now + self.cache_seconds, answer)
        return answer

    def _lookup(self, hostname: str) -> bool:
        assert self._resolver is not None
        current, seen = _name(hostname), set()
        for _ in range(MAX_CHAIN):
            if current in seen:
                return False  # a CNAME loop never reaches the target
            seen.add(current)
            try:
                answer = self._resolver.resolve(current, dns.rdatatype.CNAME, search=False)
            except (dns.exception.DNSException, OSError):
                return False
            current = _name(answer[0].target.to_text())
            if current == self.target:
                return True
        return False
