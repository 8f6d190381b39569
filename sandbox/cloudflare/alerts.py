"""Cloudflare Notifications for custom hostnames (domains/cloudflare/CONTRACT.md §11): the account's
webhook destinations and policies, and the notifications the simulator sends on every certificate
transition, with the faults real delivery may have (drop, duplicate, delay, reorder).

The SaaS alert's `alert_type` is unconfirmed upstream; the simulator offers it under
`SAAS_ALERT_TYPE` with the documented display name, and clients are expected to discover it from
`available_alerts` by that name rather than hard-code it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sandbox.cloudflare.model import ApiError, isoformat

logger = logging.getLogger("sandbox.cloudflare.alerts")

SAAS_ALERT_NAME = "SSL for SaaS Custom Hostnames Alert"
SAAS_ALERT_TYPE = "custom_ssl_certificate_event_type"
AVAILABLE_ALERTS = {
    "SSL/TLS": [
        {
            "type": "universal_ssl_event_type",
            "display_name": "Universal SSL Alert",
            "description": "Universal certificate validation, issuance, renewal and expiration.",
            "filter_options": [],
        },
        {
            "type": "dedicated_ssl_certificate_event_type",
            "display_name": "Advanced Certificate Alert",
            "description": "Advanced certificate validation, issuance, renewal and expiration.",
            "filter_options": [],
        },
        {
            "type": SAAS_ALERT_TYPE,
            "display_name": SAAS_ALERT_NAME,
            "description": "Validation, issuance, renewal, and expiration of certificates for "
            "custom hostnames.",
            "filter_options": [],
        },
    ]
}
# ssl.status transitions and the event each sends (domains/cloudflare/CONTRACT.md §11.3).
EVENTS = {
    ("pending_validation", "pending_issuance"): "validation.succeeded",
    ("pending_issuance", "pending_deployment"): "issuance.succeeded",
    ("pending_deployment", "active"): "deployment.succeeded",
    ("active", "pending_deployment"): "renewal.succeeded",
    ("active", "pending_issuance"): "renewal.failed",
}
PREFIX = "ssl.custom_hostname_certificate."


def event_for(before: str, after: str) -> str | None:
    """The event type suffix a certificate transition sends, if any."""
    if after == "deleted":
        return "deletion.succeeded"
    if after == "pending_validation" and before != after:
        return None  # a new order: nothing is reported until it validates or fails
    return EVENTS.get((before, after))


@dataclass
class Destination:
    id: str
    name: str
    url: str
    secret: str
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        # The secret is never returned.
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "type": "generic",
            "created_at": isoformat(self.created_at),
        }


@dataclass
class Policy:
    id: str
    name: str
    alert_type: str
    enabled: bool
    webhook_ids: list[str]
    description: str = ""
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "alert_type": self.alert_type,
            "enabled": self.enabled,
            "description": self.description,
            "mechanisms": {"webhooks": [{"id": i} for i in self.webhook_ids]},
            "filters": {},
            "created": isoformat(self.created),
            "modified": isoformat(self.created),
        }


@dataclass
class PushFaults:
    """What goes wrong with delivery, on request: rates are probabilities per notification."""

    drop: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0  # seconds every notification waits before it is sent
    reorder: bool = False  # hold notifications and send each batch in reverse
    shape: str = "saas"  # "saas" (the SaaS page's envelope) or "generic" (Notifications')


@dataclass
class Outgoing:
    url: str
    secret: str
    body: bytes
    due: float


class Alerts:
    """The account's destinations and policies, and the notifications owed to them. Thread-safe;
    a daemon thread sends what is due."""

    def __init__(self, *, account_id: str, zone_id: str, seed: int | None = 0) -> None:
        self.account_id = account_id
        self.zone_id = zone_id
        self.faults = PushFaults()
        self.sent: list[tuple[str, int]] = []  # (event id, HTTP status or 0), for tests
        self._destinations: dict[str, Destination] = {}
        self._policies: dict[str, Policy] = {}
        self._queue: list[Outgoing] = []
        self._random = random.Random(seed)
        self._seed = seed
        self._lock = threading.Condition()
        self._generation = 0
        self._thread = threading.Thread(target=self._send_forever, daemon=True, name="cf-push")
        self._thread.start()

    # -- control -----------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            self._destinations.clear()
            self._policies.clear()
            self._queue.clear()
            self.sent.clear()
            self.faults = PushFaults()
            self._random = random.Random(self._seed)
            self._generation += 1
            self._lock.notify_all()

    def seed(self, seed: int | None) -> None:
        with self._lock:
            self._seed = seed
            self._random = random.Random(seed)

    def configure(self, faults: PushFaults) -> None:
        with self._lock:
            self.faults = faults

    def subscribe(self, url: str, secret: str) -> None:
        """What `manage.py cloudflare_notifications setup` does, done directly (`make run`)."""
        with self._lock:
            destination = Destination(str(uuid.uuid4()), "DCVaaS", url, secret, datetime.now(UTC))
            self._destinations[destination.id] = destination
            policy = Policy(
                str(uuid.uuid4()),
                "DCVaaS custom hostnames",
                SAAS_ALERT_TYPE,
                True,
                [destination.id],
            )
            self._policies[policy.id] = policy

    @property
    def subscribed(self) -> bool:
        with self._lock:
            return bool(self._targets())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Until every notification owed so far is sent (for tests: a signal, not a sleep)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue, timeout)

    # -- notifications -------------------------------------------------------------------------

    def notify(self, hostname: dict[str, Any], before: str, after: str) -> None:
        """A certificate transition of `hostname` (its API object, after the transition)."""
        suffix = event_for(before, after)
        if suffix is None and after == "pending_validation":
            errors = (hostname.get("ssl") or {}).get("validation_errors")
            suffix = "validation.failed" if errors else None
        if suffix is None:
            return
        with self._lock:
            targets = self._targets()
            if not targets:
                return
            faults = self.faults
            now = time.monotonic()
            for destination in targets:
                body = self._body(hostname, PREFIX + suffix, faults.shape)
                copies = 1 + (self._random.random() < faults.duplicate)
                if self._random.random() < faults.drop:
                    continue
                for _ in range(copies):
                    self._queue.append(
                        Outgoing(destination.url, destination.secret, body, now + faults.delay)
                    )
            self._lock.notify_all()

    def _targets(self) -> list[Destination]:
        ids = {
            i
            for p in self._policies.values()
            if p.enabled and p.alert_type == SAAS_ALERT_TYPE
            for i in p.webhook_ids
        }
        return [d for i, d in self._destinations.items() if i in ids]

    def _body(self, hostname: dict[str, Any], event_type: str, shape: str) -> bytes:
        ssl = dict(hostname.get("ssl") or {})
        data = {
            "id": hostname["id"],
            "hostname": hostname["hostname"],
            "ssl": {k: ssl[k] for k in ("id", "type", "method", "status", "settings") if k in ssl},
            "custom_metadata": hostname.get("custom_metadata") or {},
            "custom_origin_server": hostname.get("custom_origin_server", ""),
        }
        if ssl.get("validation_errors"):
            data["ssl"]["validation_errors"] = ssl["validation_errors"]
        metadata = {
            "event": {
                "id": str(uuid.uuid4()),
                "type": event_type,
                "created_at": isoformat(datetime.now(UTC)),
            },
            "account": {"id": self.account_id},
            "zone": {"id": self.zone_id},
        }
        if shape == "generic":
            payload: dict[str, Any] = {
                "name": "DCVaaS",
                "text": f"{event_type} for {hostname['hostname']}",
                "data": {"metadata": metadata, "data": data},
                "ts": int(time.time()),
                "account_id": self.account_id,
                "alert_type": SAAS_ALERT_TYPE,
                "alert_event": event_type,
            }
        else:
            payload = {"metadata": metadata, "data": data}
        return json.dumps(payload).encode()

    def _send_forever(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: bool(self._queue))
                now = time.monotonic()
                due = [o for o in self._queue if o.due <= now]
                if not due:
                    wait = min(o.due for o in self._queue) - now
                    self._lock.wait(timeout=max(0.01, wait))
                    continue
                generation = self._generation
                if self.faults.reorder:
                    due.reverse()
            for outgoing in due:
                status = self._post(outgoing)
                with self._lock:
                    if generation != self._generation:
                        break
                    self.sent.append(
                        (
                            json.loads(outgoing.body)
                            .get("metadata", {})
                            .get("event", {})
                            .get("id", ""),
                            status,
                        )
                    )
            with self._lock:
                if generation == self._generation:
                    self._queue = [o for o in self._queue if o not in due]
                self._lock.notify_all()

    @staticmethod
    def _post(outgoing: Outgoing) -> int:
        request = urllib.request.Request(  # noqa: S310 - loopback URLs chosen by the test or app
            outgoing.url,
            data=outgoing.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "cf-webhook-auth": outgoing.secret,
                "User-Agent": "Cloudflare-Alerting-Simulator",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError as error:
            logger.info("sandbox push to %s failed: %s", outgoing.url, error)
            return 0

    # -- the account API -----------------------------------------------------------------------

    def handle(self, method: str, rest: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        """`rest` is the path after /accounts/{id}/alerting/v3/; returns (status, result)."""
        parts = rest.strip("/").split("/")
        with self._lock:
            if parts == ["available_alerts"] and method == "GET":
                return 200, AVAILABLE_ALERTS
            if parts[:2] == ["destinations", "webhooks"]:
                return self._destinations_api(method, parts[2:], body)
            if parts[:1] == ["policies"]:
                return self._policies_api(method, parts[1:], body)
        raise ApiError(404, 7000, "No route for that URI")

    def _destinations_api(
        self, method: str, rest: list[str], body: dict[str, Any] | None
    ) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                return 200, [d.to_api() for d in self._destinations.values()]
            if method == "POST":
                name, url, secret = _destination_fields(body)
                destination = Destination(str(uuid.uuid4()), name, url, secret, datetime.now(UTC))
                self._destinations[destination.id] = destination
                return 201, {"id": destination.id}
        else:
            destination = self._destinations.get(rest[0])
            if destination is None:
                raise ApiError(404, 17001, "Webhook not found.")
            if method == "GET":
                return 200, destination.to_api()
            if method == "PUT":
                name, url, secret = _destination_fields(body)
                destination.name, destination.url = name, url
                if secret:
                    destination.secret = secret
                return 200, {"id": destination.id}
            if method == "DELETE":
                del self._destinations[destination.id]
                return 200, None
        raise ApiError(405, 7001, "Method not allowed for this API")

    def _policies_api(
        self, method: str, rest: list[str], body: dict[str, Any] | None
    ) -> tuple[int, Any]:
        if not rest:
            if method == "GET":
                return 200, [p.to_api() for p in self._policies.values()]
            if method == "POST":
                policy = Policy(str(uuid.uuid4()), *self._policy_fields(body))
                self._policies[policy.id] = policy
                return 200, {"id": policy.id}
        else:
            policy = self._policies.get(rest[0])
            if policy is None:
                raise ApiError(404, 17002, "Policy not found.")
            if method == "GET":
                return 200, policy.to_api()
            if method == "PUT":
                (policy.name, policy.alert_type, policy.enabled, policy.webhook_ids,
                 policy.description) = self._policy_fields(body)  # fmt: skip
                return 200, {"id": policy.id}
            if method == "DELETE":
                del self._policies[policy.id]
                return 200, None
        raise ApiError(405, 7001, "Method not allowed for this API")

    def _policy_fields(self, body: dict[str, Any] | None) -> tuple[str, str, bool, list[str], str]:
        if not isinstance(body, dict):
            raise ApiError(400, 17100, "Invalid request body.")
        name, alert_type = body.get("name"), body.get("alert_type")
        known = {a["type"] for alerts in AVAILABLE_ALERTS.values() for a in alerts}
        if not isinstance(name, str) or not name or alert_type not in known:
            raise ApiError(400, 17101, "A policy needs a name and a known alert_type.")
        webhooks = (body.get("mechanisms") or {}).get("webhooks") or []
        ids = [w.get("id") for w in webhooks if isinstance(w, dict)]
        if not ids or any(i not in self._destinations for i in ids):
            raise ApiError(400, 17102, "Every mechanism must name an existing destination.")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ApiError(400, 17100, "Invalid request body.")
        return name, str(alert_type), enabled, ids, str(body.get("description") or "")


def _event_id(body: bytes) -> str:
    payload = json.loads(body)
    metadata = payload.get("metadata") or (payload.get("data") or {}).get("metadata") or {}
    return str((metadata.get("event") or {}).get("id", ""))


def _destination_fields(body: dict[str, Any] | None) -> tuple[str, str, str]:
    if not isinstance(body, dict):
        raise ApiError(400, 17100, "Invalid request body.")
    name, url, secret = body.get("name"), body.get("url"), body.get("secret", "")
    if not isinstance(name, str) or not name or not isinstance(url, str):
        raise ApiError(400, 17103, "A webhook needs a name and a url.")
    if not url.startswith(("http://", "https://")):
        raise ApiError(400, 17104, "The webhook url must be http(s).")
    if secret is not None and not isinstance(secret, str):
        raise ApiError(400, 17100, "Invalid request body.")
    return name, url, secret or ""
