"""The Cloudflare client: every call, its budget, timeouts, retries and logging."""

from __future__ import annotations

import builtins
import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from domains.cloudflare.errors import (
    RATE_LIMIT_CODES,
    ROUTING_CODES,
    CloudflareDeadlineError,
    CloudflareDuplicateError,
    CloudflareError,
    CloudflareNotFoundError,
    CloudflareOriginRejectedError,
    CloudflarePermanentError,
    CloudflareRateLimitedError,
    CloudflareTransientError,
    classify_error,
)
from domains.cloudflare.parsing import (
    _dict,
    _int,
    _parse_fallback,
    _remaining,
    _seconds_until,
    _str,
    parse_dns_record,
    parse_hostname,
    rate_limit_wait,
)
from domains.cloudflare.results import (
    AlertType,
    CustomHostname,
    DCVMethod,
    Destination,
    DnsRecord,
    FallbackOrigin,
    HostnamePage,
    Policy,
    Quota,
)
from domains.rate_budget import Priority, RateBudget, RateBudgetExhausted
from domains.rate_budget import budget as shared_budget

# Named for the package: one logger for everything that talks to Cloudflare.
logger = logging.getLogger("domains.cloudflare")


# ---------------------------------------------------------------------------------------------
# Configuration, read at call time
# ---------------------------------------------------------------------------------------------
def _required_setting(name: str) -> str:
    value = getattr(settings, name, "")
    if not isinstance(value, str) or not value.strip():
        raise ImproperlyConfigured(
            f"{name} is not set. Set the {name} environment variable "
            "(see .env.example) to talk to Cloudflare."
        )
    return value.strip()


def cname_target() -> str:
    """The hostname customers CNAME to (`DCV_CNAME_TARGET`)."""
    return _required_setting("DCV_CNAME_TARGET").rstrip(".").lower()


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------
BACKOFF_BASE = 0.5
BACKOFF_CAP = 8.0
MAX_PER_PAGE = 50
MAX_UNBRANDED_LENGTH = 64
MIN_PER_PAGE = 5


class CloudflareClient:
    """Custom hostnames, fallback origin and quota of the configured zone.

    `sleep` and `clock` (wall-clock epoch seconds) are injectable so tests stay fast; `max_wait`
    caps any single wait inside a call (a 429's reset, our own budget), beyond which the call
    raises `CloudflareRateLimitedError` with `retry_after` instead of blocking its caller.
    `deadline` (seconds from the client's creation) bounds everything the client does, retries,
    waits and timeouts included: past it a call raises `CloudflareDeadlineError`. People's
    requests use `CloudflareClient.interactive()`, so no page or API answer waits long on
    Cloudflare. `calls` counts HTTP attempts made by this client (retries included).
    """

    @classmethod
    def interactive(cls) -> CloudflareClient:
        """A client for calls a person waits on: all of them together end within
        `CLOUDFLARE_INTERACTIVE_SECONDS`; what does not finish is left to the sync loop."""
        seconds = float(settings.CLOUDFLARE_INTERACTIVE_SECONDS)
        return cls(deadline=seconds, max_wait=seconds)

    def __init__(
        self,
        *,
        budget: RateBudget | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float = 30.0,
        deadline: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.budget = budget or shared_budget
        self._sleep = sleep
        self._clock = clock
        self.max_wait = max_wait
        self._ends_at = None if deadline is None else time.monotonic() + deadline
        self._session = session or requests.Session()
        self._calls = 0
        self._calls_lock = threading.Lock()

    @property
    def calls(self) -> int:
        return self._calls

    # -- custom hostnames --------------------------------------------------------------------
    def create(
        self,
        hostname: str,
        *,
        method: DCVMethod | str = DCVMethod.HTTP,
        priority: Priority = "user",
        custom_origin_server: str = "",
        custom_origin_sni: str = "",
    ) -> CustomHostname:
        """Register `hostname` (idempotent: an existing one is looked up and adopted), served
        by `custom_origin_server` (a DNS record of the zone) when given.

        Raises `CloudflareInvalidHostnameError`, `CloudflareQuotaError`, `CloudflareAuthError`,
        `CloudflareTransientError` (retry later) or another `CloudflareError`.
        """
        method = DCVMethod(method)
        hostname = hostname.strip().rstrip(".").lower()
        ssl: dict[str, Any] = {
            "method": str(method),
            "type": "dv",
            # An object: `settings` sent as an empty JSON array is rejected with 1400.
            "settings": {"min_tls_version": "1.2"},
        }
        if len(hostname) > MAX_UNBRANDED_LENGTH:
            # A certificate's common name is at most 64 characters; for longer hostnames
            # Cloudflare puts its own name in the CN (and ours in the SAN) or refuses with 1469.
            ssl["cloudflare_branding"] = True
        body: dict[str, Any] = {"hostname": hostname, "ssl": ssl}
        if custom_origin_server:
            body["custom_origin_server"] = custom_origin_server
            if custom_origin_sni:
                body["custom_origin_sni"] = custom_origin_sni
        try:
            payload = self._request("POST", "/custom_hostnames", json=body, priority=priority)
        except CloudflareDuplicateError:
            # A retried registration (ours or another process's) already created it: adopt the
            # existing one rather than fail, so there is never a second Cloudflare hostname.
            existing = self.find_by_hostname(hostname, priority=priority)
            if existing is None:
                raise
            if not existing.is_gone:
                logger.info("cloudflare: adopted existing custom hostname %s", existing.id)
                return existing
            # Cloudflare keeps a deleted hostname (a `moved` one, after 7 days) under its name:
            # adopting it would register nothing. Delete it and create afresh, once; a second
            # duplicate answer is raised, never looped on.
            self.delete(existing.id, priority=priority)
            payload = self._request("POST", "/custom_hostnames", json=body, priority=priority)
            created = parse_hostname(payload.get("result"))
            logger.info(
                "cloudflare: replaced deleted custom hostname %s with %s", existing.id, created.id
            )
            return dataclasses.replace(created, replaced_id=existing.id)
        return parse_hostname(payload.get("result"))

    def get(self, hostname_id: str, *, priority: Priority = "user") -> CustomHostname:
        """The custom hostname with this id; `CloudflareNotFoundError` if there is none."""
        payload = self._request("GET", self._hostname_path(hostname_id), priority=priority)
        return parse_hostname(payload.get("result"))

    def refresh(
        self,
        hostname_id: str,
        *,
        method: DCVMethod | str | None = None,
        priority: Priority = "user",
    ) -> CustomHostname:
        """Ask Cloudflare to re-check both validations now (restarts its backoff schedule).

        The PATCH must repeat the current `ssl.method`/`type` (a different method re-issues the
        certificate); pass the method if known, otherwise it is read first with one GET.
        """
        if method is None:
            method = self.get(hostname_id, priority=priority).ssl_method or DCVMethod.HTTP
        # Whatever the current method is (including "email" set outside DCVaaS), repeat it.
        body = {"ssl": {"method": str(method), "type": "dv"}}
        path = self._hostname_path(hostname_id)
        payload = self._request("PATCH", path, json=body, priority=priority)
        return parse_hostname(payload.get("result"))

    def set_origin(
        self, hostname_id: str, server: str, *, sni: str = "", priority: Priority = "bulk"
    ) -> CustomHostname:
        """Serve the hostname from `server` (a DNS record's name in the zone), or from the
        zone's fallback origin when `server` is "".

        How to clear `custom_origin_server` is unconfirmed (domains/cloudflare/CONTRACT.md §10.4):
        null is sent first; if Cloudflare refuses it, or answers with the old value still set, "" is
        sent.
        """
        path = self._hostname_path(hostname_id)
        if server:
            body: dict[str, Any] = {"custom_origin_server": server}
            if sni:  # SNI rewrite is an entitlement of its own: sent only when configured
                body["custom_origin_sni"] = sni
            payload = self._request("PATCH", path, json=body, priority=priority)
            return parse_hostname(payload.get("result"))
        cleared = {"custom_origin_server": None}
        try:
            payload = self._request("PATCH", path, json=cleared, priority=priority)
            result = parse_hostname(payload.get("result"))
        except CloudflareOriginRejectedError:
            result = None
        if result is None or result.custom_origin_server:
            empty = {"custom_origin_server": ""}
            payload = self._request("PATCH", path, json=empty, priority=priority)
            result = parse_hostname(payload.get("result"))
        return result

    def delete(self, hostname_id: str, *, priority: Priority = "user") -> bool:
        """Delete the hostname and its certificates. Returns False if it was already gone."""
        try:
            self._request("DELETE", self._hostname_path(hostname_id), priority=priority)
        except CloudflareNotFoundError:
            return False
        except CloudflarePermanentError as exc:
            if exc.status == 404 and not exc.codes:
                return False
            raise
        return True

    def iter_pages(
        self,
        *,
        hostname: str | None = None,
        hostname_status: str | None = None,
        ssl_status: str | None = None,
        per_page: int = MAX_PER_PAGE,
        priority: Priority = "bulk",
        first_page: int = 1,
    ) -> Iterator[HostnamePage]:
        """Yield the zone's (filtered) hostnames page by page from `first_page`, for the sync
        loop.

        Stops on an empty page, on `page >= total_pages` when Cloudflare sends it, or on a
        short page; never yields an empty page.
        """
        if not MIN_PER_PAGE <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between {MIN_PER_PAGE} and {MAX_PER_PAGE}")
        if first_page < 1:
            raise ValueError("first_page starts at 1")
        filters = {
            "hostname": hostname,
            "hostname_status": hostname_status,
            "ssl_status": ssl_status,
        }
        params: dict[str, Any] = {k: str(v) for k, v in filters.items() if v}
        page = first_page
        previous_ids: tuple[str, ...] | None = None
        while True:
            query = {**params, "page": page, "per_page": per_page}
            payload = self._request("GET", "/custom_hostnames", params=query, priority=priority)
            result = payload.get("result")
            items = tuple(parse_hostname(r) for r in result) if isinstance(result, list) else ()
            info = _dict(payload.get("result_info"))
            total_pages = _int(info.get("total_pages"))
            ids = tuple(item.id for item in items)
            if not items or ids == previous_ids:
                # An empty page ends it; so does a server that ignores `page` and repeats itself,
                # which would otherwise loop forever.
                return
            yield HostnamePage(
                items=items,
                page=page,
                per_page=per_page,
                total_count=_int(info.get("total_count")),
                total_pages=total_pages,
            )
            if (total_pages is not None and page >= total_pages) or len(items) < per_page:
                return
            previous_ids = ids
            page += 1

    def list(
        self,
        *,
        hostname: str | None = None,
        hostname_status: str | None = None,
        ssl_status: str | None = None,
        per_page: int = MAX_PER_PAGE,
        priority: Priority = "user",
    ) -> builtins.list[CustomHostname]:
        """Every hostname matching the filters (all pages)."""
        return [
            item
            for page in self.iter_pages(
                hostname=hostname,
                hostname_status=hostname_status,
                ssl_status=ssl_status,
                per_page=per_page,
                priority=priority,
            )
            for item in page.items
        ]

    def find_by_hostname(
        self, hostname: str, *, priority: Priority = "user"
    ) -> CustomHostname | None:
        """The custom hostname named exactly `hostname`, or None."""
        wanted = hostname.strip().rstrip(".").lower()
        for item in self.list(hostname=wanted, priority=priority):
            if item.hostname.lower() == wanted:
                return item
        return None

    # -- DNS records of the zone (tenant origins, domains/cloudflare/CONTRACT.md §9)
    # ----------------------------
    def dns_records(
        self,
        *,
        name: str = "",
        comment: str = "",
        comment_prefix: str = "",
        priority: Priority = "bulk",
    ) -> builtins.list[DnsRecord]:
        """The zone's records with exactly this `name` and/or `comment`, or a comment starting
        with `comment_prefix` (all pages)."""
        params: dict[str, Any] = {"per_page": 100}
        if name:
            params["name"] = name.rstrip(".").lower()
        if comment:
            params["comment"] = comment
        if comment_prefix:
            params["comment.startswith"] = comment_prefix
        found: builtins.list[DnsRecord] = []
        page = 1
        while True:
            payload = self._request(
                "GET", "/dns_records", params={**params, "page": page}, priority=priority
            )
            result = payload.get("result")
            items = [parse_dns_record(r) for r in result] if isinstance(result, list) else []
            found.extend(items)
            if len(items) < params["per_page"]:
                return found
            page += 1

    def dns_record_create(
        self, *, type_: str, name: str, content: str, comment: str, priority: Priority = "bulk"
    ) -> DnsRecord:
        """A proxied record with automatic TTL (what a custom origin server needs)."""
        body = self._record_body(type_, name, content, comment)
        payload = self._request("POST", "/dns_records", json=body, priority=priority)
        return parse_dns_record(payload.get("result"))

    def dns_record_update(
        self,
        record_id: str,
        *,
        type_: str,
        name: str,
        content: str,
        comment: str,
        priority: Priority = "bulk",
    ) -> DnsRecord:
        """Overwrite the record (PUT): the way to change its type, CNAME <-> A/AAAA, under
        the same id and name. `CloudflareNotFoundError` if it is gone."""
        body = self._record_body(type_, name, content, comment)
        payload = self._request("PUT", self._record_path(record_id), json=body, priority=priority)
        return parse_dns_record(payload.get("result"))

    def dns_record_set_content(
        self, record_id: str, content: str, *, priority: Priority = "bulk"
    ) -> DnsRecord:
        """Change only the record's content (PATCH, same type)."""
        body = {"content": content, "proxied": True}
        payload = self._request("PATCH", self._record_path(record_id), json=body, priority=priority)
        return parse_dns_record(payload.get("result"))

    def dns_record_delete(self, record_id: str, *, priority: Priority = "bulk") -> bool:
        """Delete the record. Returns False if it was already gone."""
        try:
            self._request("DELETE", self._record_path(record_id), priority=priority)
        except CloudflareNotFoundError:
            return False
        return True

    @staticmethod
    def _record_body(type_: str, name: str, content: str, comment: str) -> dict[str, Any]:
        return {
            "type": type_,
            "name": name.rstrip(".").lower(),
            "content": content,
            "proxied": True,
            "ttl": 1,
            "comment": comment,
        }

    @staticmethod
    def _record_path(record_id: str) -> str:
        if not record_id or not isinstance(record_id, str):
            raise ValueError("a DNS record id is required")
        return "/dns_records/" + quote(record_id, safe="")

    # -- Notifications (push, domains/cloudflare/CONTRACT.md §11): account level
    # ---------------------------------
    def available_alerts(self, *, priority: Priority = "user") -> builtins.list[AlertType]:
        """Every alert type the account may subscribe to."""
        payload = self._request(
            "GET", "/alerting/v3/available_alerts", priority=priority, account=True
        )
        groups = _dict(payload.get("result"))
        return [
            AlertType(type=_str(item.get("type")), display_name=_str(item.get("display_name")))
            for group in groups.values()
            if isinstance(group, builtins.list)
            for item in (_dict(i) for i in group)
        ]

    def webhook_destinations(self, *, priority: Priority = "user") -> builtins.list[Destination]:
        payload = self._request(
            "GET", "/alerting/v3/destinations/webhooks", priority=priority, account=True
        )
        result = payload.get("result")
        return [
            Destination(id=_str(d.get("id")), name=_str(d.get("name")), url=_str(d.get("url")))
            for d in (_dict(i) for i in (result if isinstance(result, builtins.list) else []))
        ]

    def webhook_destination_save(
        self, *, name: str, url: str, secret: str, id_: str = "", priority: Priority = "user"
    ) -> str:
        """Create the destination, or overwrite the one with `id_`; returns its id."""
        body = {"name": name, "url": url, "secret": secret}
        path = "/alerting/v3/destinations/webhooks"
        if id_:
            path += "/" + quote(id_, safe="")
        payload = self._request(
            "PUT" if id_ else "POST", path, json=body, priority=priority, account=True
        )
        return _str(_dict(payload.get("result")).get("id")) or id_

    def notification_policies(self, *, priority: Priority = "user") -> builtins.list[Policy]:
        payload = self._request("GET", "/alerting/v3/policies", priority=priority, account=True)
        result = payload.get("result")
        policies = []
        for item in (_dict(i) for i in (result if isinstance(result, builtins.list) else [])):
            hooks = _dict(item.get("mechanisms")).get("webhooks")
            policies.append(
                Policy(
                    id=_str(item.get("id")),
                    name=_str(item.get("name")),
                    alert_type=_str(item.get("alert_type")),
                    enabled=item.get("enabled") is True,
                    webhook_ids=tuple(
                        _str(_dict(h).get("id"))
                        for h in (hooks if isinstance(hooks, builtins.list) else [])
                    ),
                )
            )
        return policies

    def notification_policy_save(
        self,
        *,
        name: str,
        alert_type: str,
        webhook_id: str,
        description: str,
        id_: str = "",
        priority: Priority = "user",
    ) -> str:
        """Create the policy, or overwrite the one with `id_`; returns its id."""
        body = {
            "name": name,
            "alert_type": alert_type,
            "enabled": True,
            "description": description,
            "mechanisms": {"webhooks": [{"id": webhook_id}]},
        }
        path = "/alerting/v3/policies" + ("/" + quote(id_, safe="") if id_ else "")
        payload = self._request(
            "PUT" if id_ else "POST", path, json=body, priority=priority, account=True
        )
        return _str(_dict(payload.get("result")).get("id")) or id_

    # -- fallback origin and quota -----------------------------------------------------------
    def get_fallback_origin(self, *, priority: Priority = "user") -> FallbackOrigin | None:
        """The zone's fallback origin, or None when none is set."""
        try:
            payload = self._request("GET", "/custom_hostnames/fallback_origin", priority=priority)
        except CloudflarePermanentError as exc:
            # No fallback origin yet; a 404 about routing (7000/7003) is a wrong zone instead.
            if exc.status == 404 and not set(exc.codes) & ROUTING_CODES:
                return None
            raise
        return _parse_fallback(payload.get("result"))

    def set_fallback_origin(self, origin: str, *, priority: Priority = "user") -> FallbackOrigin:
        """Point the zone's fallback origin at `origin` (a proxied record in the SaaS zone)."""
        payload = self._request(
            "PUT",
            "/custom_hostnames/fallback_origin",
            json={"origin": origin.strip().rstrip(".").lower()},
            priority=priority,
        )
        parsed = _parse_fallback(payload.get("result"))
        return parsed or FallbackOrigin(origin, "", (), None, None)

    def get_quota(self, *, priority: Priority = "user") -> Quota:
        """Custom hostnames used, allocated (soft limit) and the hard cap."""
        payload = self._request("GET", "/custom_hostnames/quota", priority=priority)
        result = _dict(payload.get("result"))
        allocated = _int(result.get("allocated")) or 0
        used = _int(result.get("used")) or 0
        exceeded = result.get("exceeded")
        return Quota(
            allocated=allocated,
            used=used,
            hard_cap=_int(result.get("hard_cap")),
            exceeded=exceeded if isinstance(exceeded, bool) else used >= allocated > 0,
        )

    # -- transport ---------------------------------------------------------------------------
    @staticmethod
    def _hostname_path(hostname_id: str) -> str:
        if not hostname_id or not isinstance(hostname_id, str):
            raise ValueError("a custom hostname id is required")
        return "/custom_hostnames/" + quote(hostname_id, safe="")

    def _time_left(self) -> float | None:
        """Seconds left before the deadline (None: no deadline); raises once it has passed."""
        if self._ends_at is None:
            return None
        left = self._ends_at - time.monotonic()
        if left <= 0:
            raise CloudflareDeadlineError("Cloudflare did not answer in time")
        return left

    def _spend(self, priority: Priority) -> None:
        left = self._time_left()
        wait = self.max_wait if left is None else min(self.max_wait, left)
        try:
            self.budget.acquire(priority=priority, wait=True, timeout=wait)
        except RateBudgetExhausted as exc:
            raise CloudflareRateLimitedError(
                "Our shared Cloudflare request budget is spent for now", retry_after=exc.retry_after
            ) from exc

    def _backoff(self, attempt: int) -> float:
        # Capped exponential backoff with "equal jitter": at least half the step, so retries
        # from many processes spread out but never come back at once.
        step = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return float(step / 2 + random.uniform(0, step / 2))  # noqa: S311 - not security

    def _request(
        self,
        method: str,
        path: str,
        *,
        priority: Priority,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        account: bool = False,
    ) -> dict[str, Any]:
        base = _required_setting("CLOUDFLARE_API_BASE").rstrip("/")
        token = _required_setting("CLOUDFLARE_API_TOKEN")
        if account:
            owner = _required_setting("CLOUDFLARE_ACCOUNT_ID")
            url = f"{base}/accounts/{quote(owner, safe='')}{path}"
        else:
            zone = _required_setting("CLOUDFLARE_ZONE_ID")
            url = f"{base}/zones/{quote(zone, safe='')}{path}"
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        timeout = (
            float(settings.CLOUDFLARE_CONNECT_TIMEOUT),
            float(settings.CLOUDFLARE_READ_TIMEOUT),
        )
        max_retries = max(0, int(settings.CLOUDFLARE_MAX_RETRIES))
        attempt = 0
        while True:
            attempt += 1
            self._spend(priority)
            left = self._time_left()
            if left is not None:
                timeout = (min(timeout[0], left), min(timeout[1], left))
            with self._calls_lock:
                self._calls += 1
            started = time.monotonic()
            try:
                response = self._session.request(
                    method, url, params=params, json=json, headers=headers, timeout=timeout
                )
            except requests.RequestException as exc:
                elapsed = time.monotonic() - started
                logger.warning(
                    "cloudflare %s %s -> %s attempt=%d elapsed=%.3fs",
                    method,
                    path,
                    type(exc).__name__,
                    attempt,
                    elapsed,
                )
                error: CloudflareError = CloudflareTransientError(
                    f"No answer from Cloudflare ({type(exc).__name__})"
                )
            else:
                elapsed = time.monotonic() - started
                logger.info(
                    "cloudflare %s %s -> %d attempt=%d elapsed=%.3fs",
                    method,
                    path,
                    response.status_code,
                    attempt,
                    elapsed,
                )
                outcome = self._outcome(response)
                if isinstance(outcome, dict):
                    return outcome
                error = outcome
            if attempt > max_retries or not isinstance(error, CloudflareTransientError):
                raise error
            wait = self._backoff(attempt)
            if error.retry_after is not None:
                wait = max(wait, error.retry_after) if error.status != 429 else error.retry_after
            left = self._time_left()
            if wait > self.max_wait or (left is not None and wait >= left):
                raise error
            self._sleep(wait)

    def _outcome(self, response: requests.Response) -> dict[str, Any] | CloudflareError:
        now = self._clock()
        headers = response.headers
        if not response.content.strip():
            payload: Any = {}  # e.g. a DELETE answered with an empty body
        else:
            try:
                payload = response.json()
            except ValueError:
                payload = None
        status = response.status_code
        if 200 <= status < 300:
            remaining = _remaining(headers)
            reset = rate_limit_wait(headers, now)
            if remaining == 0 and reset:
                # Cloudflare says the token's allowance is used up (by us or anything else
                # sharing the token): stop everyone before it starts answering 429.
                self.budget.pause_until(now + reset)
            if isinstance(payload, dict) and payload.get("success", True) is not False:
                return payload
            if payload is None:
                return CloudflareTransientError(
                    "Cloudflare sent an unreadable answer", status=status
                )
        body = _dict(payload)
        errors = [_dict(e) for e in body.get("errors") or [] if isinstance(e, dict)]
        chain = [
            _dict(c) for e in errors for c in e.get("error_chain") or [] if isinstance(c, dict)
        ]
        codes = tuple(c for c in (_int(e.get("code")) for e in errors + chain) if c is not None)
        message = "; ".join(_str(e.get("message")) for e in errors if e.get("message"))
        message = message or f"Cloudflare answered HTTP {status} {response.reason or ''}".strip()
        if status == 429 or set(codes) & RATE_LIMIT_CODES:
            wait = rate_limit_wait(headers, now)
        else:
            # Only an explicit Retry-After (e.g. on a 503) delays a retry of other errors: the
            # Ratelimit header rides on every answer and says when the *window* resets.
            retry_after = headers.get("Retry-After")
            wait = _seconds_until(retry_after, now) if retry_after else None
        error = classify_error(status, codes, message, retry_after=wait)
        if isinstance(error, CloudflareRateLimitedError):
            # Everyone sharing the token is blocked, not just this call: pause the budget.
            if error.retry_after is None:
                # Without a reset header assume the documented block: the whole window.
                error.retry_after = float(settings.CLOUDFLARE_RATE_WINDOW)
            self.budget.pause_until(now + error.retry_after)
        return error
