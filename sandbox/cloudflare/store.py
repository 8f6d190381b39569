"""The simulator's state file: written atomically (temp file + rename) after every change, read
at start, so `make run` keeps its custom hostnames across restarts."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.cloudflare.model import CustomHostname, Delays, isoformat
from sandbox.cloudflare.records import DnsRecord

STATE_VERSION = 1


@dataclass
class FallbackOrigin:
    origin: str
    created_at: datetime
    updated_at: datetime

    def to_api(self, now: datetime, delays: Delays) -> dict[str, Any]:
        ready = now >= self.updated_at + timedelta(seconds=delays.deployment)
        return {
            "origin": self.origin,
            "status": "active" if ready else "pending_deployment",
            "errors": [],
            "created_at": isoformat(self.created_at),
            "updated_at": isoformat(self.updated_at),
        }


@dataclass
class State:
    hostnames: list[CustomHostname] = field(default_factory=list)
    overrides: dict[str, bool] = field(default_factory=dict)  # hostname -> CNAME present
    fallback: FallbackOrigin | None = None
    records: list[DnsRecord] = field(default_factory=list)


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def save_state(path: Path, state: State) -> None:
    """Replace `path` with `state` in one rename, so a crash never leaves half a file."""
    fallback = state.fallback
    data = {
        "version": STATE_VERSION,
        "hostnames": [record.to_state() for record in state.hostnames],
        "cname_overrides": state.overrides,
        "dns_records": [record.to_state() for record in state.records],
        "fallback_origin": None
        if fallback is None
        else {
            "origin": fallback.origin,
            "created_at": isoformat(fallback.created_at),
            "updated_at": isoformat(fallback.updated_at),
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cloudflare-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> State:
    data = json.loads(path.read_text())
    fallback = data.get("fallback_origin")
    return State(
        hostnames=[CustomHostname.from_state(item) for item in data.get("hostnames", [])],
        overrides={str(k): bool(v) for k, v in data.get("cname_overrides", {}).items()},
        records=[DnsRecord.from_state(item) for item in data.get("dns_records", [])],
        fallback=None
        if not fallback
        else FallbackOrigin(
            origin=fallback["origin"],
            created_at=_parse_time(fallback["created_at"]),
            updated_at=_parse_time(fallback["updated_at"]),
        ),
    )
