"""The Cloudflare simulator itself: routing, auth, endpoints, control API and persistence.

All state sits behind one lock; DNS lookups happen outside it so a slow resolver never blocks
other requests.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.cloudflare.alerts import Alerts, PushFaults
from sandbox.cloudflare.cname import CnameChecker
from sandbox.cloudflare.limits import (
    FAULT_KINDS,
    Fault,
    RateCounter,
    RecordedRequest,
    server_error,
    throttled,
)
from sandbox.cloudflare.model import (
    ApiError,
    Clock,
    CustomHostname,
    Delays,
    bad_param,
    special_kind,
    utc_now,
    validate_hostname,
)
from sandbox.cloudflare.page import handle_page
from sandbox.cloudflare.records import (
    DnsRecord,
    check_conflicts,
    check_record,
    checked_fields,
    list_query,
    matches,
    new_record_id,
    ordered,
)
from sandbox.cloudflare.store import FallbackOrigin, State, load_state, save_state
from sandbox.cloudflare.wire import (
    UUID_RE,
    SslInput,
    envelope,
    failure,
    json_body,
    parse_extras,
    parse_list_query,
    parse_ssl,
    selected,
)
from sandbox.server import Request, Response, SandboxApp, SandboxServer

if TYPE_CHECKING:
    from sandbox.dns import DnsSandbox

# List parameters whose answer depends on every hostname's current state, and those that
# select hostnames at all (`wire.selected`).
STATUS_FILTERS = frozenset({"hostname_status", "ssl_status"})
STATUS_FILTER_MODES = ("honour", "ignore", "refuse")
# How stale a state-filtered listing may be (see `_evaluate_all`).
EVALUATE_ALL_EVERY = timedelta(seconds=0.5)
STATE_PARAMETERS = frozenset({"hostname_status", "ssl_status", "ssl", "order"})
FILTER_PARAMETERS = frozenset(
    {
        "id",
        "hostname",
        "hostname.exact",
        "hostname.contain",
        "hostname.startsWith",
        "hostname_status",
        "ssl_status",
        "ssl",
        "certificate_authority",
        "custom_origin_server",
        "wildcard",
    }
)

__all__ = ["PREFIX", "CloudflareSandbox", "RecordedRequest"]

PREFIX = "/client/v4"
_ACCOUNT_ROUTE = re.compile(r"^/accounts/(?P<account>[^/]+)/alerting/v3/(?P<rest>.+)$")
# How often transitions are looked for while someone subscribes to notifications (Cloudflare
# notices them on its own; the simulator otherwise evaluates lazily, when a hostname is read).
PUSH_TICK_SECONDS = 0.25
_ROUTE = re.compile(
    r"^/zones/(?P<zone>[^/]+)/(?P<kind>custom_hostnames|dns_records)(?:/(?P<rest>[^/]+))?/?$"
)
# What a custom origin server's DNS record may be (domains/cloudflare/CONTRACT.md §10.2).
ORIGIN_RECORD_TYPES = ("A", "AAAA", "CNAME")
NOT_ENTITLED = (
    "Access to setting a custom origin server has not been granted for this zone. If you are "
    "already a paid Cloudflare for SaaS customer, contact your Customer Success Manager for "
    "additional provisioning. Check your input and try again."
)


class CloudflareSandbox(SandboxApp):
    """A faithful fake of Cloudflare for SaaS custom hostnames, for tests and `make run`.

    Control methods (`set_cname`, `set_state`, `remove`, `inject_fault`, ...) are thread-safe
    and meant for tests and the `/sandbox/` page; everything else is reached over HTTP.
    """

    def __init__(
        self,
        *,
        zone_id: str,
        token: str,
        cname_target: str,
        zone_name: str = "",
        account_id: str = "01a7362d577a6c3019a474fd6f485823",
        custom_origins: bool = True,
        origin_requires_proxied: bool = False,
        api_email: str = "sandbox@dcvaas.localhost",
        api_key: str = "sandbox-cloudflare-global-api-key",
        dns_resolver: str = "",
        delays: Delays | None = None,
        clock: Clock | None = None,
        state_file: Path | None = None,
        allocated: int = 100,
        hard_cap: int = 50_000,
        unknown_zone_code: int = 10000,
        enforce_rate_limit: bool = False,
        rate_limit: int = 1200,
        rate_window: int = 300,
        status_filters: str = "honour",
        seed: int | None = 0,
        prefix: str = PREFIX,
    ) -> None:
        if unknown_zone_code not in (10000, 7003):
            raise ValueError("unknown_zone_code must be 10000 or 7003")
        self.zone_id = zone_id
        self.token = token
        # The account's global API key, sent as X-Auth-Email + X-Auth-Key (Cloudflare's older
        # scheme, which its SDKs still offer).
        self.api_email = api_email
        self.api_key = api_key
        self.cname_target = cname_target
        # The SaaS zone's own name: the CNAME target's parent unless given.
        self.zone_name = (zone_name or cname_target.split(".", 1)[-1]).rstrip(".").lower()
        # Whether the zone is entitled to custom origin servers (off: 403/1414), and whether an
        # origin's DNS record must be proxied for 1421 to pass (unconfirmed: off by default).
        self.custom_origins = custom_origins
        self.origin_requires_proxied = origin_requires_proxied
        self.account_id = account_id
        # Notifications (domains/cloudflare/CONTRACT.md §11): destinations, policies and what is
        # sent to them.
        self.alerts = Alerts(account_id=account_id, zone_id=zone_id, seed=seed)
        self.prefix = prefix.rstrip("/")
        self.delays = delays or Delays()
        self.clock: Clock = clock or utc_now
        self.state_file = state_file
        self.allocated = allocated
        self.hard_cap = hard_cap
        self.unknown_zone_code = unknown_zone_code
        self.enforce_rate_limit = enforce_rate_limit
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        # The list filters `hostname_status` and `ssl_status` are in the 2026 SDKs but not the
        # published schema (domains/cloudflare/CONTRACT.md §1.1): "honour" them, "ignore" them (list
        # as if absent) or "refuse" them (400), to play a Cloudflare that predates them.
        self._check_status_filters(status_filters)
        self.status_filters = status_filters
        self.base_url = ""  # set by serve(); "<server>/client/v4"
        # The customers' DNS (the DNS simulator) when one runs beside this one: the control
        # page's CNAME buttons write there (`sandbox` command, `make run`).
        self.customer_dns: DnsSandbox | None = None
        self.stripe_controls_url = "/"  # the Stripe simulator's controls, for the page's link
        self.mail_dir: Path | None = None  # the app's sandbox mailbox, shown on the page
        # Called with every (request, response) the API answers; tests validate them.
        self.observers: list[Callable[[Request, Response], None]] = []
        self._generation = 0  # moves on with every reset()
        self._seed = seed
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._resolver = dns_resolver
        self._cname = CnameChecker(
            resolver=dns_resolver, target=cname_target, cache_seconds=self.delays.dns_cache
        )
        self._changed = True  # since the last `_evaluate_all`
        self._version = 0  # moves on with every change (`_save`)
        # A listing's selection by its filters and order, with the `_version` it was made at.
        self._selections: dict[tuple[Any, ...], tuple[int, list[CustomHostname]]] = {}
        self._evaluated_all_at: datetime | None = None
        self._hostnames: dict[str, CustomHostname] = {}  # by id, in creation order
        self._unsettled: set[str] = set()  # ids a tick must look at (`_evaluate`)
        self._ids_by_name: dict[str, str] = {}  # hostname -> id, kept beside `_hostnames`
        self._records: dict[str, DnsRecord] = {}  # the zone's DNS records, by id
        self._overrides: dict[str, bool] = {}  # hostname -> CNAME present, set by set_cname
        self._fallback: FallbackOrigin | None = None
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._rates = RateCounter()
        self._ticker: threading.Thread | None = None
        self._tick_always = False
        self._stopped = threading.Event()
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # -- serving ---------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> SandboxServer:
        """Start a background server for this sandbox and set `base_url`. Transitions are
        applied, and their notifications sent, every PUSH_TICK_SECONDS while a destination is
        subscribed, else when something reads (`start_clock` makes it tick regardless)."""
        server = SandboxServer(self, host, port).start()
        self.base_url = f"{server.url}{self.prefix}"
        self._start_ticker(always=False)
        return server

    def start_clock(self) -> None:
        """Advance on the simulator's own clock from now on, as Cloudflare does: validation,
        issuance and deployment happen at their delays whether or not anyone reads (`make
        run`). Idempotent."""
        self._start_ticker(always=True)

    def stop_clock(self) -> None:
        self._stopped.set()

    def _start_ticker(self, *, always: bool) -> None:
        with self._lock:
            self._tick_always = self._tick_always or always
            if self._ticker is not None:
                return
            self._ticker = threading.Thread(target=self._tick_forever, daemon=True, name="cf-tick")
        self._ticker.start()

    def _tick_forever(self) -> None:
        while not self._stopped.wait(PUSH_TICK_SECONDS):
            if self._tick_always or self.alerts.subscribed:
                try:
                    self.tick()
                except Exception:  # the ticker must outlive any one bad evaluation
                    logging.getLogger(__name__).exception("sandbox: evaluation failed")

    def tick(self) -> None:
        """Apply every transition due now, sending its notifications: what Cloudflare does on
        its own, and what the ticker thread does every PUSH_TICK_SECONDS (a simulated clock's
        owner calls it after moving the clock)."""
        self._evaluate(None)

    # -- control API -----------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def hostnames(self, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
        """A snapshot of every hostname (or those from `start` to `stop` in creation order) as
        the API would return it, after due transitions."""
        self._evaluate(None)
        with self._lock:
            chosen = itertools.islice(self._hostnames.values(), start, stop)
            return [h.to_api() for h in chosen]

    def add_active(self, hostnames: Iterable[str]) -> int:
        """Hostnames validated and serving, as if added long ago with their CNAME in place: no
        request recorded, no notification sent. How a benchmark sets up a zone of a million
        hostnames without a million POSTs. Returns the zone's size."""
        with self._lock:
            now = self.clock()
            for name in hostnames:
                hostname = validate_hostname(name)
                if hostname in self._ids_by_name:
                    raise ValueError(f"{hostname} is already in the zone")
                if len(self._hostnames) >= self.hard_cap:
                    raise ValueError(f"the zone is at its hard cap ({self.hard_cap})")
                record = CustomHostname(
                    id=str(uuid.uuid4()),
                    hostname=hostname,
                    created_at=now,
                    started_at=now,
                    status="active",
                    ssl_status="active",
                    verification_errors=[],
                    records_ready=True,
                )
                record.issue_certificate(now)
                self._hostnames[record.id] = record
                self._ids_by_name[hostname] = record.id
                self._overrides[hostname] = True
            self._save()
            return len(self._hostnames)

    def cname_overrides(self) -> dict[str, bool]:
        """What `set_cname` was told, by hostname (hostnames left to DNS are absent)."""
        with self._lock:
            return dict(self._overrides)

    def dns_records(self) -> list[dict[str, Any]]:
        """Every DNS record of the zone as the API shows it."""
        with self._lock:
            return [r.to_api() for r in self._records.values()]

    def ensure_fallback_origin(self, origin: str) -> None:
        """Set the zone's fallback origin unless one is set (what an operator does once)."""
        with self._lock:
            if self._fallback is None:
                now = self.clock()
                self._fallback = FallbackOrigin(origin=origin, created_at=now, updated_at=now)
                self._save()

    def put_dns_record(
        self, name: str, content: str, *, type_: str = "CNAME", comment: str = ""
    ) -> dict[str, Any]:
        """Add a proxied record as someone else would (a dashboard user, an earlier run)."""
        with self._lock:
            now = self.clock()
            record = DnsRecord(
                id=new_record_id(),
                type=type_,
                name=name.rstrip(".").lower(),
                content=content,
                proxied=True,
                ttl=1,
                comment=comment or None,
                tags=[],
                created_on=now,
                modified_on=now,
            )
            check_record(record)
            check_conflicts(record, list(self._records.values()))
            self._records[record.id] = record
            self._save()
            return record.to_api()

    def delete_dns_record(self, name: str) -> None:
        """Delete every record of that name, as a person in Cloudflare's dashboard could."""
        with self._lock:
            for record in [r for r in self._records.values() if r.name == name.lower()]:
                del self._records[record.id]
            self._save()

    def route(self, hostname: str) -> dict[str, Any]:
        """Where Cloudflare's edge would send a request for `hostname`
        (domains/cloudflare/CONTRACT.md §10.4): `{"origin", "via", "sni", "host"}`, or `{"error":
        1016, ...}` when the custom origin's DNS record is gone or the zone has no fallback
        origin."""
        with self._lock:
            record = self._by_name(hostname)
            server = record.custom_origin_server
            if server is None:
                if self._fallback is None:
                    return {"error": 1016, "reason": "no fallback origin", "host": hostname}
                return {
                    "origin": self._fallback.origin,
                    "via": "fallback origin",
                    "sni": record.hostname,
                    "host": record.hostname,
                }
            found = [r for r in self._records.values() if r.name == server]
            if not found:
                return {"error": 1016, "reason": f"no DNS record {server}", "host": hostname}
            sni = record.custom_origin_sni
            if sni == ":request_host_header:":
                sni = record.hostname
            return {
                "origin": ", ".join(r.content for r in found),
                "via": server,
                "sni": sni or server,
                "host": record.hostname,
            }

    def hostname(self, hostname: str) -> dict[str, Any]:
        """One custom hostname as the API shows it; LookupError if the zone has none."""
        with self._lock:
            return self._by_name(hostname).to_api()

    def set_cname(self, hostname: str, present: bool | None = True) -> None:
        """Say whether the customer's CNAME is in place (None: ask DNS again)."""
        with self._lock:
            self._touch(hostname)
            if present is None:
                self._overrides.pop(hostname.lower(), None)
            else:
                self._overrides[hostname.lower()] = present
            self._save()

    def set_state(
        self,
        hostname: str,
        *,
        status: str | None = None,
        ssl_status: str | None = None,
        verification_errors: list[str] | None = None,
        validation_errors: list[str] | None = None,
    ) -> None:
        """Force a state; it holds (no automatic transitions) until a refresh PATCH."""
        with self._lock:
            record = self._by_name(hostname)
            self._unsettled.add(record.id)
            before = record.ssl_status
            record.pin(
                status=status,
                ssl_status=ssl_status,
                verification_errors=verification_errors,
                validation_errors=validation_errors,
                now=self.clock(),
            )
            if record.ssl_status != before:
                self._notify(record, before)
            self._save()

    def refresh(self, hostname: str) -> None:
        """What a PATCH with the same ssl method/type does (the page's "Refresh" button)."""
        with self._lock:
            record = self._by_name(hostname)
            self._unsettled.add(record.id)
            record.refresh(self.clock())
            self._save()
        self._evaluate([record.id], fresh=True)

    def remove(self, hostname: str) -> None:
        """The hostname vanishes at Cloudflare (deleted elsewhere, e.g. after `moved`)."""
        with self._lock:
            record = self._by_name(hostname)
            del self._hostnames[record.id]
            self._ids_by_name.pop(record.hostname, None)
            self._save()

    def inject_fault(
        self,
        kind: str,
        *,
        rate: float = 1.0,
        count: int | None = None,
        method: str | None = None,
        path_contains: str | None = None,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make matching API calls fail: 429, 500/502/503, slow (sleep `delay`), drop."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(Fault(kind, rate, count, method, path_contains, retry_after, delay))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget hostnames, overrides, faults, recorded requests and rate-limit counters.

        A request still being answered slowly (a "slow" fault) belongs to what came before:
        it is dropped unanswered, never applied to the fresh state or shown to new observers.
        """
        with self._lock:
            self._generation += 1
            self._hostnames.clear()
            self._unsettled.clear()
            self._ids_by_name.clear()
            self._records.clear()
            self._overrides.clear()
            self._fallback = None
            self._faults.clear()
            self._requests.clear()
            self._rates.clear()
            self._random = random.Random(self._seed)
            self._cname.clear()
            self._save()
        self.alerts.reset()

    def push_faults(self, faults: PushFaults) -> None:
        """Make notification delivery drop, duplicate, delay or reorder, or change shape."""
        self.alerts.configure(faults)

    def seed(self, seed: int | None) -> None:
        """Re-seed the fault dice (rate < 1 faults) for a reproducible sequence."""
        with self._lock:
            self._seed = seed
            self._random = random.Random(seed)
        self.alerts.seed(seed)

    def configure(
        self,
        *,
        delays: Delays | None = None,
        clock: Clock | None = None,
        dns_resolver: str | None = None,
        allocated: int | None = None,
        hard_cap: int | None = None,
        unknown_zone_code: int | None = None,
        enforce_rate_limit: bool | None = None,
        rate_limit: int | None = None,
        rate_window: int | None = None,
        custom_origins: bool | None = None,
        origin_requires_proxied: bool | None = None,
        zone_name: str | None = None,
        status_filters: str | None = None,
    ) -> None:
        """Change settings of a running simulator; arguments left as None stay as they are."""
        if unknown_zone_code not in (None, 10000, 7003):
            raise ValueError("unknown_zone_code must be 10000 or 7003")
        if status_filters is not None:
            self._check_status_filters(status_filters)
        with self._lock:
            if delays is not None:
                self.delays = delays
            if clock is not None:
                self.clock = clock
            if dns_resolver is not None or delays is not None:
                resolver = self._resolver if dns_resolver is None else dns_resolver
                self._resolver = resolver
                self._cname = CnameChecker(
                    resolver=resolver,
                    target=self.cname_target,
                    cache_seconds=self.delays.dns_cache,
                )
            for name, value in (
                ("allocated", allocated),
                ("hard_cap", hard_cap),
                ("unknown_zone_code", unknown_zone_code),
                ("enforce_rate_limit", enforce_rate_limit),
                ("rate_limit", rate_limit),
                ("rate_window", rate_window),
                ("custom_origins", custom_origins),
                ("origin_requires_proxied", origin_requires_proxied),
                ("zone_name", zone_name),
                ("status_filters", status_filters),
            ):
                if value is not None:
                    setattr(self, name, value)

    @staticmethod
    def _check_status_filters(value: str) -> None:
        if value not in STATUS_FILTER_MODES:
            raise ValueError(f"status_filters must be one of {STATUS_FILTER_MODES}")

    # -- HTTP ------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.path == "/sandbox" or request.path.startswith("/sandbox/"):
            return handle_page(self, request)
        record = RecordedRequest(request.method, request.path, dict(request.query))
        with self._lock:
            self._requests.append(record)
            generation = self._generation
        response = self._api(request, generation, record)
        record.status = 0 if response.drop else response.status
        if generation != self._generation:
            return Response(drop=True)  # reset while it was being answered: see `reset`
        for observer in list(self.observers):
            observer(request, response)
        return response

    def _api(self, request: Request, generation: int, record: RecordedRequest) -> Response:
        fault = self._roll_fault(request)
        if fault is not None:
            record.fault = fault.kind
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay)
            if generation != self._generation:
                return Response(drop=True)
        elif fault is not None and fault.kind == "drop":
            return Response(drop=True)
        elif fault is not None:
            return self._fault_response(request, fault)
        limited = self._rates.hit(
            _caller(request),
            self.clock().timestamp(),
            limit=self.rate_limit,
            window=self.rate_window,
            enforce=self.enforce_rate_limit,
        )
        headers = self._rate_headers(request)
        if limited is not None:
            return throttled(limited, headers, self.clock())
        try:
            status, body = self._dispatch(request)
        except ApiError as error:
            status, body = error.status, failure(error)
        return Response.json(body, status=status, headers=headers)

    def _dispatch(self, request: Request) -> tuple[int, dict[str, Any]]:
        path = request.path
        if not path.startswith(self.prefix + "/"):
            raise ApiError(404, 7000, "No route for that URI")
        account = _ACCOUNT_ROUTE.match(path[len(self.prefix) :])
        if account is not None:
            self._authenticate(request)
            if account["account"] != self.account_id:
                raise ApiError(403, 10000, "Authentication error")
            body = json_body(request) if request.method in ("POST", "PUT") else None
            status, result = self.alerts.handle(request.method.upper(), account["rest"], body)
            return status, envelope(result)
        match = _ROUTE.match(path[len(self.prefix) :])
        if match is None:
            raise ApiError(404, 7000, "No route for that URI")
        self._authenticate(request)
        zone, rest, kind = match["zone"], match["rest"], match["kind"]
        if zone != self.zone_id:
            if self.unknown_zone_code == 7003:
                raise ApiError(
                    400,
                    7003,
                    f"Could not route to /zones/{zone}/{kind}, perhaps your object "
                    "identifier is invalid?",
                )
            raise ApiError(403, 10000, "Authentication error")
        if kind == "dns_records":
            return self._dns_dispatch(request, rest)
        handlers: dict[tuple[str, str], Callable[[], tuple[int, dict[str, Any]]]]
        if rest is None:
            handlers = {
                ("GET", ""): lambda: self._list(request),
                ("POST", ""): lambda: self._create(request),
            }
            rest = ""
        elif rest == "fallback_origin":
            handlers = {
                ("GET", rest): self._fallback_get,
                ("PUT", rest): lambda: self._fallback_put(request),
                ("DELETE", rest): self._fallback_delete,
            }
        elif rest == "quota":
            handlers = {("GET", rest): self._quota}
        else:
            hostname_id = rest
            handlers = {
                ("GET", rest): lambda: self._get(hostname_id),
                ("PATCH", rest): lambda: self._edit(hostname_id, request),
                ("DELETE", rest): lambda: self._delete(hostname_id),
            }
        handler = handlers.get((request.method.upper(), rest))
        if handler is None:
            raise ApiError(405, 7001, "Method not allowed for this API")
        return handler()

    def _authenticate(self, request: Request) -> None:
        authorization = request.headers.get("authorization")
        if authorization is None:
            if "x-auth-key" in request.headers or "x-auth-email" in request.headers:
                self._authenticate_global_key(request)
                return
            if "x-auth-user-service-key" in request.headers:
                # Origin CA keys reach the certificates API only, never custom hostnames.
                raise ApiError(403, 9109, "Invalid access token")
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiError(
                400,
                6003,
                "Invalid request headers",
                [{"code": 6111, "message": "Invalid format for Authorization header"}],
            )
        if not secrets.compare_digest(token.strip().encode(), self.token.encode()):
            raise ApiError(403, 9109, "Invalid access token")

    def _authenticate_global_key(self, request: Request) -> None:
        email = request.headers.get("x-auth-email", "").strip()
        key = request.headers.get("x-auth-key", "").strip()
        if not email or not key:
            raise ApiError(400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers")
        known = secrets.compare_digest(key.encode(), self.api_key.encode())
        if not known or email.lower() != self.api_email.lower():
            raise ApiError(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")

    # -- faults and rate limits ------------------------------------------------------------

    def _roll_fault(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.matches(request) or self._random.random() >= fault.rate:
                    continue
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, request: Request, fault: Fault) -> Response:
        if fault.kind == "429":
            return throttled(fault.retry_after, self._rate_headers(request), self.clock())
        return server_error(int(fault.kind))

    def _rate_headers(self, request: Request) -> dict[str, str]:
        return self._rates.headers(
            _caller(request),
            self.clock().timestamp(),
            limit=self.rate_limit,
            window=self.rate_window,
        )

    # -- lifecycle evaluation --------------------------------------------------------------

    def _evaluate(self, ids: Iterable[str] | None, *, fresh: bool = False) -> None:
        """Apply the transitions due now to `ids` (None: all), checking DNS outside the lock.

        All means the hostnames that may not be settled (`_unsettled`): one that is settled
        (active, its CNAME not taken away, or pinned) stays so until something touches it
        (`set_cname`, `set_state`, a refresh or an edit), which puts it back there. So a tick
        of a zone of a million active hostnames walks the few that are moving."""
        with self._lock:
            candidates = self._unsettled if ids is None else ids
            records = []
            for record_id in list(candidates):
                record = self._hostnames.get(record_id)
                removed = record is not None and self._overrides.get(record.hostname) is False
                if record is None or record.settled(cname_removed=removed):
                    self._unsettled.discard(record_id)
                else:
                    records.append(record)
            overrides = {
                r.hostname: self._overrides[r.hostname]
                for r in records
                if r.hostname in self._overrides
            }
            to_check = {
                r.hostname
                for r in records
                if r.needs_cname_check()
                and r.hostname not in overrides
                and special_kind(r.hostname) not in ("blocked", "moved")
            }
        found = {name: self._cname.present(name, fresh=fresh) for name in sorted(to_check)}
        with self._lock:
            now, changed = self.clock(), False
            for record in records:
                if record.id not in self._hostnames:
                    continue  # deleted while DNS was asked
                cname = overrides.get(record.hostname, found.get(record.hostname))
                if record.status == "active" and record.hostname not in overrides:
                    cname = None  # only an explicit "CNAME removed" moves an active hostname
                before = record.ssl_status
                if record.advance(now, self.delays, cname):
                    changed = True
                    self._notify(record, before)
                self._unsettled.add(record.id)  # until a tick finds it settled
            if changed:
                self._save()

    def _evaluate_all(self) -> None:
        """Bring every hostname up to now for a filter on states. The pages of one listing,
        asked in quick succession, share an evaluation: it is redone when anything changed
        since (`_save` marks it) or EVALUATE_ALL_SECONDS of the simulator's clock passed, so a
        timed step shows that much late at most, and a 1,000-page listing does not cost a
        thousand walks over the zone."""
        with self._lock:
            now = self.clock()
            last = self._evaluated_all_at
            if not self._changed and last is not None and now - last < EVALUATE_ALL_EVERY:
                return
            self._changed, self._evaluated_all_at = False, now
        self._evaluate(None)

    def _notify(self, record: CustomHostname, before: str) -> None:
        """Tell the subscribed destinations about a certificate transition (each step
        passed through, as Cloudflare sends one event per step). The caller holds the lock."""
        path = {
            "initializing": [
                "pending_validation",
                "pending_issuance",
                "pending_deployment",
                "active",
            ],
            "pending_validation": ["pending_issuance", "pending_deployment", "active"],
            "pending_issuance": ["pending_deployment", "active"],
            "pending_deployment": ["active"],
        }.get(before, [])
        steps = path[: path.index(record.ssl_status) + 1] if record.ssl_status in path else []
        steps = steps or ([record.ssl_status] if record.ssl_status != before else [])
        api = record.to_api()
        for step in steps:
            self.alerts.notify({**api, "ssl": {**api["ssl"], "status": step}}, before, step)
            before = step

    # -- endpoints -------------------------------------------------------------------------

    def _touch(self, hostname: str) -> None:
        """Something about `hostname` changed: the next tick looks at it. Holds the lock."""
        record_id = self._ids_by_name.get(hostname.lower())
        if record_id is not None:
            self._unsettled.add(record_id)

    def _by_name(self, hostname: str) -> CustomHostname:
        record_id = self._ids_by_name.get(hostname.lower())
        if record_id is None:
            raise LookupError(f"no custom hostname {hostname!r}")
        return self._hostnames[record_id]

    def _by_id(self, hostname_id: str) -> CustomHostname:
        if not UUID_RE.match(hostname_id):
            raise ApiError(400, 1435, "Custom hostname ID is invalid.")
        record = self._hostnames.get(hostname_id)
        if record is None:
            raise ApiError(404, 1436, "The custom hostname was not found.")
        return record

    def _create(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = json_body(request)
        hostname = validate_hostname(body.get("hostname"))
        if hostname.startswith("*."):
            raise ApiError(
                400,
                1448,
                "Wildcard hostnames are not supported for Cloudflare managed certificates.",
            )
        ssl = parse_ssl(body["ssl"]) if body.get("ssl") is not None else SslInput("http", "dv")
        if len(hostname) > 64 and not ssl.fields.get("cloudflare_branding"):
            raise ApiError(
                400,
                1469,
                "Since no host is 64 characters or fewer, Cloudflare Branding is required. "
                "Please check your input and try again.",
            )
        extras = parse_extras(body)
        with self._lock:
            self._check_origin(extras)
            if hostname in self._ids_by_name:
                raise ApiError(409, 1406, "Duplicate custom hostname found.")
            if len(self._hostnames) >= self.hard_cap:
                raise ApiError(403, 1405, "Quota exceeded.")
            now = self.clock()
            record = CustomHostname(
                id=str(uuid.uuid4()),
                hostname=hostname,
                created_at=now,
                started_at=now,
                method=ssl.method,
                type=ssl.type,
                **{k: v for k, v in ssl.fields.items() if k != "cloudflare_branding"},
                **extras,
            )
            # The create answer shows what Cloudflare has at once: records if they are due,
            # never a CNAME verdict (that comes with the first check after creation).
            record.advance(now, self.delays, None)
            self._hostnames[record.id] = record
            self._unsettled.add(record.id)
            self._ids_by_name[record.hostname] = record.id
            self._save()
            return 201, envelope(record.to_api())

    def _get(self, hostname_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            record = self._by_id(hostname_id)
        self._evaluate([record.id])
        with self._lock:
            return 200, envelope(self._by_id(hostname_id).to_api())

    def _edit(self, hostname_id: str, request: Request) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self._by_id(hostname_id)
        body = json_body(request)
        if "hostname" in body:
            raise ApiError(409, 1439, "Modifying the custom hostname is not supported.")
        ssl = parse_ssl(body["ssl"]) if body.get("ssl") is not None else None
        extras = parse_extras(body)
        self._evaluate([hostname_id])
        with self._lock:
            record = self._by_id(hostname_id)
            self._unsettled.add(record.id)
            self._check_origin(extras)
            for name, value in extras.items():
                setattr(record, name, value)
            if ssl is not None:
                now = self.clock()
                ca = ssl.fields.get("certificate_authority")
                same_ca = ca is None or ca == record.certificate_authority
                if ssl.method == record.method and ssl.type == record.type and same_ca:
                    record.refresh(now)
                else:
                    record.reissue(now, method=ssl.method, type_=ssl.type, ca=ca)
                for name in ("settings", "bundle_method", "wildcard"):
                    if name in ssl.fields:
                        setattr(record, name, ssl.fields[name])
            self._save()
        # A refresh asks for an immediate re-check, past the DNS cache.
        self._evaluate([hostname_id], fresh=ssl is not None)
        with self._lock:
            return 202, envelope(self._by_id(hostname_id).to_api())

    def _delete(self, hostname_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            record = self._by_id(hostname_id)
            del self._hostnames[record.id]
            self._ids_by_name.pop(record.hostname, None)
            self._save()
            api = record.to_api()
            self.alerts.notify(
                {**api, "ssl": {**api["ssl"], "status": "deleted"}}, record.ssl_status, "deleted"
            )
        # Bare object, no envelope: what the schema and every official SDK expect.
        return 200, {"id": record.id}

    def _list(self, request: Request) -> tuple[int, dict[str, Any]]:
        query, page, per_page = parse_list_query(request)
        status_filters = STATUS_FILTERS & query.keys()
        if status_filters and self.status_filters == "refuse":
            raise bad_param(f"unknown parameter: {', '.join(sorted(status_filters))}")
        if status_filters and self.status_filters == "ignore":
            query = {k: v for k, v in query.items() if k not in STATUS_FILTERS}
        # Only a filter or an order on the statuses needs every hostname's state brought up
        # to now; otherwise only the page's hostnames are: what a page shows is all anyone
        # sees, the certificate's timed steps come out the same whenever they are applied, and
        # a CNAME was only ever noticed when someone looked.
        by_state = bool(STATE_PARAMETERS & query.keys())
        if by_state:
            self._evaluate_all()
        filters = FILTER_PARAMETERS & query.keys()
        with self._lock:
            if filters in ({"hostname"}, {"hostname.exact"}):
                # One exact name: the index answers it without a scan of the zone.
                record_id = self._ids_by_name.get(query[filters.pop()].lower())
                items = [self._hostnames[record_id]] if record_id else []
            else:
                items = self._selection(query, filters)
        start = (page - 1) * per_page
        window = items[start : start + per_page]
        if not by_state:
            self._evaluate([r.id for r in window])
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(window),
            "total_count": len(items),
            "total_pages": math.ceil(len(items) / per_page),
        }
        return 200, envelope([r.to_api() for r in window], result_info=info)

    def _selection(self, query: dict[str, str], filters: set[str]) -> list[CustomHostname]:
        """The hostnames a listing's filters select, in its order. The pages of one listing
        share it until the zone changes (`_save`), so a 20,000-page listing of a
        million-hostname zone does not filter the zone 20,000 times. The caller holds the
        lock."""
        key = (
            tuple(sorted((name, query[name]) for name in filters)),
            query.get("order"),
            query.get("direction"),
        )
        cached = self._selections.get(key)
        if cached is not None and cached[0] == self._version:
            return cached[1]
        if filters:
            items = [r for r in self._hostnames.values() if selected(r, query)]
        else:
            items = list(self._hostnames.values())
        if query.get("order") == "ssl_status":
            items.sort(key=lambda r: r.ssl_status)
        if query.get("direction") == "desc":
            items.reverse()
        if len(self._selections) >= 16:
            self._selections.clear()
        self._selections[key] = (self._version, items)
        return items

    def _check_origin(self, extras: dict[str, Any]) -> None:
        """A custom origin server needs the entitlement and a DNS record of its name (§10).
        The caller holds the lock."""
        server, sni = extras.get("custom_origin_server"), extras.get("custom_origin_sni")
        if (server or sni) and not self.custom_origins:
            raise ApiError(403, 1414, NOT_ENTITLED)
        if not server:
            return
        exists = any(
            r.name == server
            and r.type in ORIGIN_RECORD_TYPES
            and (r.proxied or not self.origin_requires_proxied)
            for r in self._records.values()
        )
        if not exists:
            raise ApiError(
                400,
                1421,
                "The custom origin hostname you specified does not exist on Cloudflare as a "
                f"DNS record (A, AAAA or CNAME) in your zone:{self.zone_id}. Check your input "
                "and try again.",
            )

    # -- DNS records (domains/cloudflare/CONTRACT.md §9)
    # ------------------------------------------------------

    def _dns_dispatch(self, request: Request, rest: str | None) -> tuple[int, dict[str, Any]]:
        method = request.method.upper()
        if rest is None:
            if method == "GET":
                return self._dns_list(request)
            if method == "POST":
                return self._dns_create(request)
        elif method == "GET":
            with self._lock:
                return 200, envelope(self._dns_by_id(rest).to_api())
        elif method in ("PATCH", "PUT"):
            return self._dns_change(rest, request, partial=method == "PATCH")
        elif method == "DELETE":
            with self._lock:
                record = self._dns_by_id(rest)
                del self._records[record.id]
                self._save()
            return 200, envelope({"id": record.id})
        raise ApiError(405, 7001, "Method not allowed for this API")

    def _dns_by_id(self, record_id: str) -> DnsRecord:
        record = self._records.get(record_id)
        if record is None:
            raise ApiError(404, 81044, "Record does not exist.")
        return record

    def _dns_create(self, request: Request) -> tuple[int, dict[str, Any]]:
        values = checked_fields(json_body(request), self.zone_name, partial=False)
        with self._lock:
            now = self.clock()
            record = DnsRecord(id=new_record_id(), created_on=now, modified_on=now, **values)
            check_record(record)
            check_conflicts(record, list(self._records.values()))
            self._records[record.id] = record
            self._save()
            return 200, envelope(record.to_api())

    def _dns_change(
        self, record_id: str, request: Request, *, partial: bool
    ) -> tuple[int, dict[str, Any]]:
        values = checked_fields(json_body(request), self.zone_name, partial=partial)
        with self._lock:
            current = self._dns_by_id(record_id)
            changed = DnsRecord(**{**vars(current), **values, "modified_on": self.clock()})
            check_record(changed)
            check_conflicts(changed, list(self._records.values()))
            self._records[record_id] = changed
            self._save()
            return 200, envelope(changed.to_api())

    def _dns_list(self, request: Request) -> tuple[int, dict[str, Any]]:
        query, page, per_page = list_query(request.query)
        with self._lock:
            items = ordered([r for r in self._records.values() if matches(r, query)], query)
        start = (page - 1) * per_page
        window = items[start : start + per_page]
        info = {
            "page": page,
            "per_page": per_page,
            "count": len(window),
            "total_count": len(items),
            "total_pages": math.ceil(len(items) / per_page),
        }
        return 200, envelope([r.to_api() for r in window], result_info=info)

    def _fallback_get(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            fallback = self._fallback
            result = fallback.to_api(self.clock(), self.delays) if fallback else None
        return 200, envelope(result)

    def _fallback_put(self, request: Request) -> tuple[int, dict[str, Any]]:
        body = json_body(request)
        origin = validate_hostname(body.get("origin"))
        with self._lock:
            now = self.clock()
            created = self._fallback.created_at if self._fallback else now
            self._fallback = FallbackOrigin(origin=origin, created_at=created, updated_at=now)
            self._save()
            return 200, envelope(self._fallback.to_api(now, self.delays))

    def _fallback_delete(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            fallback, self._fallback = self._fallback, None
            self._save()
            if fallback is None:
                return 200, envelope(None)
            result = fallback.to_api(self.clock(), self.delays)
            result["status"] = "pending_deletion"
            return 200, envelope(result)

    def _quota(self) -> tuple[int, dict[str, Any]]:
        with self._lock:
            used = len(self._hostnames)
        result = {
            "allocated": self.allocated,
            "used": used,
            "exceeded": used >= self.allocated,
            "hard_cap": self.hard_cap,
        }
        return 200, envelope(result)

    # -- persistence -----------------------------------------------------------------------

    def _save(self) -> None:
        """Note a change, and write the state file, if any; the caller holds the lock."""
        self._changed = True
        self._version += 1
        if self.state_file is not None:
            save_state(
                self.state_file,
                State(
                    list(self._hostnames.values()),
                    self._overrides,
                    self._fallback,
                    list(self._records.values()),
                ),
            )

    def _load(self, path: Path) -> None:
        state = load_state(path)
        self._hostnames = {record.id: record for record in state.hostnames}
        self._ids_by_name = {record.hostname: record.id for record in state.hostnames}
        self._unsettled = set(self._hostnames)
        self._overrides = state.overrides
        self._fallback = state.fallback
        self._records = {record.id: record for record in state.records}


def _caller(request: Request) -> str:
    """Whose rate limit a request counts against: its token, or its global key."""
    return request.headers.get("authorization") or request.headers.get("x-auth-key", "anonymous")
