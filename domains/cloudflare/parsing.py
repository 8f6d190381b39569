"""Turning Cloudflare's JSON and rate-limit headers into our results, tolerantly."""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domains.cloudflare.results import (
    CnameRecord,
    CustomHostname,
    DnsRecord,
    FallbackOrigin,
    HttpToken,
    TxtRecord,
)


# ---------------------------------------------------------------------------------------------
# Parsing (tolerant: missing/null fields, unknown values and the deprecated flattened
# `ssl.txt_name`/`ssl.http_url`/`ssl.cname` never crash it)
# ---------------------------------------------------------------------------------------------
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _messages(value: Any) -> tuple[str, ...]:
    # verification_errors are strings; ssl.validation_errors are {"message": ...} objects.
    if not isinstance(value, list):
        return ()
    out = []
    for item in value:
        text = item if isinstance(item, str) else _str(_dict(item).get("message"))
        if text:
            out.append(text)
    return tuple(out)


def parse_datetime(value: Any) -> datetime | None:
    """An aware datetime from Cloudflare's ISO 8601 or RFC 1123 text, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _validation_records(
    ssl: dict[str, Any],
) -> tuple[list[TxtRecord], list[HttpToken], list[CnameRecord]]:
    txt: list[TxtRecord] = []
    http: list[HttpToken] = []
    cname: list[CnameRecord] = []
    records = ssl.get("validation_records")
    sources = [_dict(r) for r in records] if isinstance(records, list) else []
    # Older payloads flattened the first record into `ssl` itself.
    sources.append(ssl)
    for record in sources:
        if record.get("txt_name") and record.get("txt_value"):
            item = TxtRecord(_str(record["txt_name"]), _str(record["txt_value"]))
            if item not in txt:
                txt.append(item)
        if record.get("http_url") and record.get("http_body"):
            token = HttpToken(_str(record["http_url"]), _str(record["http_body"]))
            if token not in http:
                http.append(token)
        if record.get("cname") and record.get("cname_target"):
            alias = CnameRecord(_str(record["cname"]), _str(record["cname_target"]))
            if alias not in cname:
                cname.append(alias)
    return txt, http, cname


def parse_hostname(data: Any) -> CustomHostname:
    """A `CustomHostname` from one `result` object."""
    data = _dict(data)
    ssl = _dict(data.get("ssl"))
    txt, http, cname = _validation_records(ssl)
    ownership = _dict(data.get("ownership_verification"))
    ownership_http = _dict(data.get("ownership_verification_http"))
    # The deployed certificate: ssl.certificates[] when present, else the top-level fields
    # (documented for uploaded certificates).
    certificates = [_dict(c) for c in ssl.get("certificates") or [] if isinstance(c, dict)]
    first = certificates[0] if certificates else {}
    issuer = _str(first.get("issuer")) or _str(ssl.get("issuer")) or None
    expires = parse_datetime(first.get("expires_on")) or parse_datetime(ssl.get("expires_on"))
    return CustomHostname(
        id=_str(data.get("id")),
        hostname=_str(data.get("hostname")),
        status=_str(data.get("status")),
        ssl_status=_str(ssl.get("status")),
        ssl_method=_str(ssl.get("method")),
        verification_errors=_messages(data.get("verification_errors")),
        ownership_txt=(
            TxtRecord(_str(ownership["name"]), _str(ownership["value"]))
            if ownership.get("name") and ownership.get("value")
            else None
        ),
        ownership_http=(
            HttpToken(_str(ownership_http["http_url"]), _str(ownership_http["http_body"]))
            if ownership_http.get("http_url") and ownership_http.get("http_body")
            else None
        ),
        validation_txt=tuple(txt),
        validation_http=tuple(http),
        validation_cname=tuple(cname),
        validation_errors=_messages(ssl.get("validation_errors")),
        certificate_issuer=issuer,
        certificate_expires_at=expires,
        created_at=parse_datetime(data.get("created_at")),
        custom_origin_server=_str(data.get("custom_origin_server")).lower(),
        custom_origin_sni=_str(data.get("custom_origin_sni")),
    )


def parse_dns_record(data: Any) -> DnsRecord:
    """A `DnsRecord` from one `result` object."""
    data = _dict(data)
    return DnsRecord(
        id=_str(data.get("id")),
        type=_str(data.get("type")),
        name=_str(data.get("name")).rstrip(".").lower(),
        content=_str(data.get("content")),
        proxied=data.get("proxied") is True,
        comment=_str(data.get("comment")),
    )


# ---------------------------------------------------------------------------------------------
# Rate-limit headers
# ---------------------------------------------------------------------------------------------
_RATELIMIT_T = re.compile(r"(?:^|[;,\s])(?:t|reset)\s*=\s*(\d+(?:\.\d+)?)")
_RATELIMIT_R = re.compile(r"(?:^|[;,\s])(?:r|remaining)\s*=\s*(\d+)")


def _seconds_until(value: str, now: float) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        when = parse_datetime(value)
        return None if when is None else max(0.0, when.timestamp() - now)
    # X-RateLimit-Reset has been seen both as a delay and as an epoch timestamp.
    return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)


def rate_limit_wait(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the rate limit resets, from `Retry-After` first, then `Ratelimit`
    (`"default";r=0;t=30`), then `X-RateLimit-Reset`; None when no header says.
    """
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = _seconds_until(retry_after, now)
        if seconds is not None:
            return seconds
    structured = headers.get("Ratelimit")
    if structured:
        match = _RATELIMIT_T.search(structured)
        if match:
            return float(match.group(1))
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        return _seconds_until(reset, now)
    return None


def _remaining(headers: Mapping[str, str]) -> int | None:
    structured = headers.get("Ratelimit")
    if structured:
        match = _RATELIMIT_R.search(structured)
        if match:
            return int(match.group(1))
    return _int(headers.get("X-RateLimit-Remaining"))


def _parse_fallback(data: Any) -> FallbackOrigin | None:
    data = _dict(data)
    if not data.get("origin"):
        return None
    return FallbackOrigin(
        origin=_str(data.get("origin")),
        status=_str(data.get("status")),
        errors=_messages(data.get("errors")),
        created_at=parse_datetime(data.get("created_at")),
        updated_at=parse_datetime(data.get("updated_at")),
    )
