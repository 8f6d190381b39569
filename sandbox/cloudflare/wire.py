"""What goes over the wire: Cloudflare's envelopes and the checks on request bodies and queries."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.cloudflare.model import (
    BUNDLE_METHODS,
    CERTIFICATE_AUTHORITIES,
    DCV_METHODS,
    HOSTNAME_STATUSES,
    SSL_STATUSES,
    ApiError,
    CustomHostname,
    bad_param,
    validate_hostname,
)
from sandbox.server import Request

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_HOSTNAME_FILTERS = ("hostname", "hostname.exact", "hostname.contain", "hostname.startsWith")
_OTHER_FILTERS = (
    "hostname_status",
    "ssl_status",
    "certificate_authority",
    "custom_origin_server",
    "wildcard",
)
_SETTINGS_CHECKS = {
    "min_tls_version": (("1.0", "1.1", "1.2", "1.3"), 1425),
    "http2": (("on", "off"), 1422),
    "tls_1_3": (("on", "off"), 1424),
    "early_hints": (("on", "off"), 1434),
}


@dataclass
class SslInput:
    method: str
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


def envelope(result: Any, **extra: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def failure(error: ApiError) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.chain:
        entry["error_chain"] = error.chain
    return {"success": False, "errors": [entry], "messages": [], "result": None}


def json_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, 1400, "Unable to decode the JSON request body")
    return body


def parse_ssl(raw: object) -> SslInput:
    """Check an `ssl` object of a create or edit body; raises the matching 14xx error."""
    if not isinstance(raw, dict):
        raise ApiError(400, 1434, "SSL attribute is invalid.")
    method, type_ = raw.get("method"), raw.get("type")
    if method is None or type_ is None:
        raise ApiError(400, 1440, "Both validation type and validation method are required.")
    if method not in DCV_METHODS:
        raise ApiError(400, 1432, "Validation method is not supported; use http, txt or email.")
    if type_ != "dv":
        raise ApiError(400, 1433, "Validation type is not supported; only dv is.")
    fields: dict[str, Any] = {}
    settings = raw.get("settings")
    if settings is not None:
        # An empty JSON array here fails to decode at Cloudflare (cloudflare-php #230).
        if not isinstance(settings, dict):
            raise ApiError(400, 1400, "Unable to decode the JSON request body")
        for name, (allowed, code) in _SETTINGS_CHECKS.items():
            if name in settings and settings[name] not in allowed:
                raise ApiError(400, code, f"Invalid {name} setting.")
        ciphers = settings.get("ciphers")
        if ciphers is not None and not (
            isinstance(ciphers, list) and all(isinstance(c, str) for c in ciphers)
        ):
            raise ApiError(400, 1442, "Invalid ciphers.")
        fields["settings"] = {
            k: v for k, v in settings.items() if k in (*_SETTINGS_CHECKS, "ciphers")
        }
    if "bundle_method" in raw:
        if raw["bundle_method"] not in BUNDLE_METHODS:
            raise ApiError(400, 1449, "Bundle method must be ubiquitous, optimal or force.")
        fields["bundle_method"] = raw["bundle_method"]
    if "wildcard" in raw:
        if not isinstance(raw["wildcard"], bool):
            raise ApiError(400, 1434, "SSL attribute is invalid.")
        fields["wildcard"] = raw["wildcard"]
    if "certificate_authority" in raw:
        ca = raw["certificate_authority"]
        if ca != "" and ca not in CERTIFICATE_AUTHORITIES:
            raise ApiError(400, 1434, "SSL attribute is invalid.")
        fields["certificate_authority"] = ca or "google"  # "" asks for the default CA
    if "cloudflare_branding" in raw:
        fields["cloudflare_branding"] = bool(raw["cloudflare_branding"])
    return SslInput(method=method, type=type_, fields=fields)


def parse_extras(body: dict[str, Any]) -> dict[str, Any]:
    extras: dict[str, Any] = {}
    if "custom_metadata" in body:
        metadata = body["custom_metadata"]
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise ApiError(400, 1401, "Unable to encode the Custom Metadata as JSON.")
        extras["custom_metadata"] = metadata
    if "custom_origin_server" in body:
        server = body["custom_origin_server"]
        if isinstance(server, str) and server.startswith("*"):
            raise ApiError(
                400,
                1420,
                "Wildcard custom origin hostnames are not supported. Check your input and try "
                "again.",
            )
        extras["custom_origin_server"] = (
            None if server in (None, "") else validate_hostname(server, base_code=1415)
        )
    if "custom_origin_sni" in body:
        sni = body["custom_origin_sni"]
        if sni is not None and not isinstance(sni, str):
            raise ApiError(400, 1434, "SSL attribute is invalid.")
        extras["custom_origin_sni"] = sni or None
    return extras


def parse_list_query(request: Request) -> tuple[dict[str, str], int, int]:
    """The list endpoint's query (last value of each name), page and per_page; or raise."""
    query = {k: v[-1] for k, v in request.query.items()}
    page = _int_param(query, "page", 1, 1, None)
    per_page = _int_param(query, "per_page", 20, 5, 50)
    for name, allowed in (
        ("order", ("ssl", "ssl_status")),
        ("direction", ("asc", "desc")),
        ("ssl", ("0", "1")),
        ("hostname_status", HOSTNAME_STATUSES),
        ("ssl_status", SSL_STATUSES),
        ("certificate_authority", ("google", "lets_encrypt", "ssl_com")),
        ("wildcard", ("true", "false")),
    ):
        if name in query and query[name] not in allowed:
            raise bad_param(f"{name} must be one of: {', '.join(allowed)}")
    hostname_filters = [name for name in _HOSTNAME_FILTERS if name in query]
    if "id" in query:
        if hostname_filters or any(name in query for name in _OTHER_FILTERS):
            raise ApiError(400, 1438, "The id parameter cannot be used with other filters.")
        if not UUID_RE.match(query["id"]):
            raise ApiError(400, 1435, "Custom hostname ID is invalid.")
    # 1437 is documented for a bad hostname.contain; the simulator also uses it for two
    # hostname filters at once, which the API describes as mutually exclusive.
    if len(hostname_filters) > 1:
        raise ApiError(
            400, 1437, f"Only one hostname filter may be given, not {', '.join(hostname_filters)}."
        )
    if "hostname.contain" in query and not re.fullmatch(
        r"[A-Za-z0-9.*-]{1,255}", query["hostname.contain"]
    ):
        raise ApiError(400, 1437, "The hostname.contain query parameter is invalid.")
    return query, page, per_page


def _int_param(query: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    if name not in query:
        return default
    try:
        value = float(query[name])
    except ValueError:
        value = math.nan
    if not value.is_integer() or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise bad_param(f"{name} variable must be a number {bounds}")
    return int(value)


def selected(record: CustomHostname, query: dict[str, str]) -> bool:
    name = record.hostname
    checks = (
        ("id", lambda v: record.id == v),
        ("hostname", lambda v: name == v.lower()),
        ("hostname.exact", lambda v: name == v.lower()),
        ("hostname.contain", lambda v: v.lower() in name),
        ("hostname.startsWith", lambda v: name.startswith(v.lower())),
        ("hostname_status", lambda v: record.status == v),
        ("ssl_status", lambda v: record.ssl_status == v),
        ("ssl", lambda v: v == "0" or record.ssl_status == "active"),
        ("certificate_authority", lambda v: record.certificate_authority == v),
        ("custom_origin_server", lambda v: record.custom_origin_server == v),
        ("wildcard", lambda v: record.wildcard == (v == "true")),
    )
    return all(check(query[key]) for key, check in checks if key in query)
