"""DNS records of the SaaS zone (A, AAAA and CNAME), as Cloudflare's DNS records API keeps them
(domains/cloudflare/CONTRACT.md §9): what tenant origins are made of.

Nothing here does I/O or locking: the app calls these under its lock.
"""

from __future__ import annotations

import ipaddress
import math
import re
import secrets
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sandbox.cloudflare.model import ApiError, bad_param, isoformat

RECORD_TYPES = ("A", "AAAA", "CNAME")
# List filters the simulator implements (domains/cloudflare/CONTRACT.md §9.5); other documented ones
# are accepted and ignored only if absent, so a client relying on one we lack finds out.
_TEXT_FILTERS = ("name", "content", "comment")
_MATCHES = ("exact", "contains", "startswith", "endswith")
_ORDERS = ("type", "name", "content", "ttl", "proxied")
_NAME = re.compile(r"^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}$")


@dataclass
class DnsRecord:
    id: str
    type: str
    name: str  # the complete name, lower case, punycode
    content: str
    proxied: bool
    ttl: int
    comment: str | None
    tags: list[str]
    created_on: datetime
    modified_on: datetime

    def to_api(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "name": self.name,
            "content": self.content,
            "proxied": self.proxied,
            "proxiable": True,
            "ttl": self.ttl,
            "tags": list(self.tags),
            "meta": {},
            "created_on": isoformat(self.created_on),
            "modified_on": isoformat(self.modified_on),
        }
        if self.comment is not None:
            result["comment"] = self.comment
        return result

    def to_state(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            data[f.name] = isoformat(value) if isinstance(value, datetime) else value
        return data

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> DnsRecord:
        values = dict(data)
        for name in ("created_on", "modified_on"):
            values[name] = datetime.fromisoformat(values[name].replace("Z", "+00:00"))
        return cls(**values)


def new_record_id() -> str:
    return secrets.token_hex(16)


def full_name(raw: object, zone_name: str) -> str:
    """The record's complete name: `@` is the apex; a relative name gets the zone appended."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 255:
        raise ApiError(400, 9000, "DNS name is invalid.")
    name = raw.strip().rstrip(".").lower()
    if name == "@":
        return zone_name
    if name != zone_name and not name.endswith("." + zone_name):
        name = f"{name}.{zone_name}"
    if not name.isascii() or not _NAME.match(name):
        raise ApiError(400, 9000, "DNS name is invalid.")
    return name


def checked_fields(body: dict[str, Any], zone_name: str, *, partial: bool) -> dict[str, Any]:
    """The writable fields of a create/overwrite (`partial` False) or PATCH body, checked."""
    values: dict[str, Any] = {}
    if "type" in body or not partial:
        if body.get("type") not in RECORD_TYPES:
            raise ApiError(400, 9004, "This record type is not supported by the simulator.")
        values["type"] = body["type"]
    if "name" in body or not partial:
        values["name"] = full_name(body.get("name"), zone_name)
    if "content" in body or not partial:
        content = body.get("content")
        if not isinstance(content, str) or not content.strip():
            raise ApiError(400, 9005, "DNS record content is invalid.")
        values["content"] = content.strip()
    if "proxied" in body:
        if not isinstance(body["proxied"], bool):
            raise ApiError(400, 9003, "Invalid 'proxied' value, must be a boolean.")
        values["proxied"] = body["proxied"]
    elif not partial:
        values["proxied"] = False  # Cloudflare's default: DNS only
    if "ttl" in body or not partial:
        ttl = body.get("ttl", 1)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not float(ttl).is_integer():
            raise ApiError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1.")
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise ApiError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1.")
        values["ttl"] = int(ttl)
    if "comment" in body:
        comment = body["comment"]
        if comment is not None and (not isinstance(comment, str) or "\n" in comment):
            raise ApiError(400, 9100, "Comments may not contain newlines.")
        values["comment"] = comment or None
    elif not partial:
        values["comment"] = None
    if "tags" in body or not partial:
        tags = body.get("tags") or []
        if not isinstance(tags, list) or not all(
            isinstance(t, str) and re.fullmatch(r"[A-Za-z0-9_-]+:.*", t) for t in tags
        ):
            raise ApiError(400, 9101, "Tags must be name:value pairs.")
        values["tags"] = list(tags)
    return values


def check_record(record: DnsRecord) -> None:
    """The content must suit the type (domains/cloudflare/CONTRACT.md §9.2, errors as §9.4)."""
    if record.type in ("A", "AAAA"):
        version = 4 if record.type == "A" else 6
        try:
            address = ipaddress.ip_address(record.content)
        except ValueError:
            address = None
        if address is None or address.version != version:
            family = "IPv4" if version == 4 else "IPv6"
            raise ApiError(
                400, 9005, f"Content for {record.type} record must be a valid {family} address."
            )
        record.content = str(address)
    else:
        content = record.content.rstrip(".").lower()
        if not _NAME.match(content) or "." not in content:
            raise ApiError(400, 9007, "Content for CNAME record is invalid.")
        if content == record.name:
            raise ApiError(400, 9039, "CNAME content cannot reference itself.")
        record.content = content


def check_conflicts(record: DnsRecord, others: list[DnsRecord]) -> None:
    """A/AAAA never beside a CNAME of the same name; no exact duplicates (§9.2, §9.4)."""
    same_name = [o for o in others if o.name == record.name and o.id != record.id]
    if any(o.type == record.type and o.content == record.content for o in same_name):
        raise ApiError(400, 81057, "Record already exists.")
    if record.type == "CNAME" and same_name:
        raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
    if record.type != "CNAME" and any(o.type == "CNAME" for o in same_name):
        raise ApiError(
            400,
            81054,
            "A CNAME record with that host already exists. For more details, refer to "
            "<https://developers.cloudflare.com/dns/manage-dns-records/troubleshooting/"
            "records-with-same-name/>.",
        )


def list_query(query: dict[str, list[str]]) -> tuple[dict[str, str], int, int]:
    """The list's filters (last value of each), page and per_page; or raise."""
    flat = {k: v[-1] for k, v in query.items()}
    page = _positive(flat, "page", 1, None)
    per_page = _positive(flat, "per_page", 100, 5_000_000)
    if "type" in flat and flat["type"] not in RECORD_TYPES:
        raise bad_param(f"type must be one of: {', '.join(RECORD_TYPES)}")
    if "proxied" in flat and flat["proxied"] not in ("true", "false"):
        raise bad_param("proxied must be true or false")
    if flat.get("order", "type") not in _ORDERS:
        raise bad_param(f"order must be one of: {', '.join(_ORDERS)}")
    if flat.get("direction", "asc") not in ("asc", "desc"):
        raise bad_param("direction must be asc or desc")
    if flat.get("match", "all") not in ("all", "any"):
        raise bad_param("match must be all or any")
    return flat, page, per_page


def _positive(query: dict[str, str], name: str, default: int, high: int | None) -> int:
    if name not in query:
        return default
    try:
        value = float(query[name])
    except ValueError:
        value = math.nan
    if not value.is_integer() or value < 1 or (high is not None and value > high):
        raise bad_param(f"{name} must be a whole number of at least 1")
    return int(value)


def matches(record: DnsRecord, query: dict[str, str]) -> bool:
    """Whether `record` passes the query's filters (`match=any`: one of them)."""
    checks: list[bool] = []
    if "type" in query:
        checks.append(record.type == query["type"])
    if "proxied" in query:
        checks.append(record.proxied == (query["proxied"] == "true"))
    for field_name in _TEXT_FILTERS:
        value = (getattr(record, field_name) or "").lower()
        if field_name in query:  # the bare name is `.exact`
            checks.append(value == query[field_name].lower())
        for how in _MATCHES:
            key = f"{field_name}.{how}"
            if key in query:
                checks.append(_text_match(value, query[key].lower(), how))
    if "comment.present" in query:
        checks.append(bool(record.comment))
    if "comment.absent" in query:
        checks.append(not record.comment)
    if not checks:
        return True
    return any(checks) if query.get("match") == "any" else all(checks)


def _text_match(value: str, wanted: str, how: str) -> bool:
    if how == "exact":
        return value == wanted
    if how == "contains":
        return wanted in value
    if how == "startswith":
        return value.startswith(wanted)
    return value.endswith(wanted)


def ordered(records: list[DnsRecord], query: dict[str, str]) -> list[DnsRecord]:
    key = query.get("order", "type")
    items = sorted(records, key=lambda r: (str(getattr(r, key)), r.name, r.id))
    if query.get("direction") == "desc":
        items.reverse()
    return items
