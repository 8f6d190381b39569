"""What a Cloudflare notification says, from either documented envelope
(domains/cloudflare/CONTRACT.md §11.3)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Notice:
    event_id: str  # metadata.event.id, else a digest of the body (for deduplication)
    event_type: str
    zone_id: str  # "" when the envelope does not say
    hostname_id: str
    hostname: str


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_notice(body: bytes) -> Notice:
    """Read `body` in the SaaS envelope (`{"metadata", "data": {hostname}}`) or Notifications'
    generic one (`{"alert_type", "data": {"metadata", "data": {hostname}}}`); anything else
    (the dashboard's "Hello World" test, garbage) gives a notice naming no hostname."""
    try:
        payload = _dict(json.loads(body))
    except ValueError:
        payload = {}
    outer = _dict(payload.get("data"))
    metadata = _dict(payload.get("metadata")) or _dict(outer.get("metadata"))
    event = _dict(metadata.get("event"))
    hostname = outer if "ssl" in outer or "hostname" in outer else _dict(outer.get("data"))
    event_type = (
        _str(event.get("type"))
        or _str(payload.get("alert_event"))
        or _str(payload.get("alert_type"))
    )
    event_id = _str(event.get("id")) or "sha256:" + hashlib.sha256(body).hexdigest()
    return Notice(
        event_id=event_id[:100],
        event_type=event_type[:120],
        zone_id=_str(_dict(metadata.get("zone")).get("id")),
        hostname_id=_str(hostname.get("id"))[:64],
        hostname=_str(hostname.get("hostname")).rstrip(".").lower()[:253],
    )
