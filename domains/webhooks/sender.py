"""The only module that sends webhooks over HTTP: Standard Webhooks signatures, to a checked
address, within a time limit, with no redirects and a capped read.

It connects to the address `guard.resolve_target` checked (not to whatever the name resolves
to a moment later), sends the URL's hostname as `Host` and, over https, as SNI, and verifies
the certificate against that hostname.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import certifi
import urllib3
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from domains.webhooks.guard import Target

USER_AGENT = "DCVaaS-Webhooks/1"
EXCERPT_CHARS = 1000
# The most of an answer read: a receiver owes us a status, not a body.
MAX_RESPONSE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Attempt:
    """What one attempt got: a status code (None: no answer) and its body's excerpt, or why
    there was no answer; and how long it took."""

    status_code: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def signed_headers(
    message_id: str, body: str, secrets: list[str], moment: datetime
) -> dict[str, str]:
    """The three Standard Webhooks headers; one `v1,` signature per secret (two during a
    rotation's overlap: receivers holding either secret verify)."""
    signatures = " ".join(
        Webhook(secret).sign(msg_id=message_id, timestamp=moment, data=body) for secret in secrets
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signatures,
    }


def body_of(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """One connection to the checked address (never another the name resolves to), verified
    against the URL's hostname over https."""
    limit = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    pool_options: dict[str, Any] = {
        "timeout": urllib3.Timeout(connect=limit, read=limit),
        "retries": False,
        "maxsize": 1,
    }
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            server_hostname=target.hostname,
            assert_hostname=target.hostname,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **pool_options,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, **pool_options)


class Connections:
    """The keep-alive connections of one batch to one endpoint: an attempt to the same checked
    address (scheme, address, port and hostname) reuses the last one's connection instead of a
    new TCP (and TLS) handshake each; an address that changed gets its own. An attempt that
    got no answer drops its connection. Close when the batch ends (`with`)."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}

    def __enter__(self) -> Connections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _key(target: Target) -> tuple[str, str, int, str]:
        return (target.scheme, target.address, target.port, target.hostname)

    def get(self, target: Target) -> urllib3.HTTPConnectionPool:
        key = self._key(target)
        if key not in self._pools:
            self._pools[key] = _pool(target)
        return self._pools[key]

    def drop(self, target: Target) -> None:
        pool = self._pools.pop(self._key(target), None)
        if pool is not None:
            pool.close()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def send(
    target: Target, body: str, headers: dict[str, str], connections: Connections | None = None
) -> Attempt:
    """POST `body` to `target` once (on a connection of `connections`, if given: kept open for
    the next attempt). Never raises for the endpoint's trouble."""
    if connections is None:
        with Connections() as own:
            return send(target, body, headers, own)
    started = time.monotonic()
    deadline = started + float(settings.WEBHOOK_TIMEOUT_SECONDS)
    pool = connections.get(target)
    host = target.hostname if target.port in (80, 443) else f"{target.hostname}:{target.port}"
    try:
        response = pool.urlopen(
            "POST",
            target.path,
            body=body.encode(),
            headers={
                **headers,
                "Host": host,
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
        try:
            content = _read(response, MAX_RESPONSE_BYTES, deadline)
        finally:
            response.release_conn()
    except TimeoutError:
        connections.drop(target)
        return _failed("no complete answer within the time limit", started)
    except urllib3.exceptions.HTTPError as error:
        connections.drop(target)
        return _failed(_describe(error), started)
    if len(content) >= MAX_RESPONSE_BYTES:
        connections.drop(target)  # the rest of a long answer is never read: no reuse
    excerpt = content.decode("utf-8", "replace")[:EXCERPT_CHARS]
    return Attempt(response.status, excerpt, "", _ms(started))


def _read(response: urllib3.BaseHTTPResponse, cap: int, deadline: float) -> bytes:
    """At most `cap` bytes of the body, before `deadline` (a body sent a byte at a time must
    not hold a worker past the attempt's limit)."""
    chunks: list[bytes] = []
    size = 0
    while size < cap:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read1(min(8192, cap - size))  # what has arrived, not a full block
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _describe(error: urllib3.exceptions.HTTPError) -> str:
    # NewConnectionError is a ConnectTimeoutError to urllib3: asked first.
    if isinstance(error, urllib3.exceptions.NewConnectionError):
        return "the connection was refused"
    if isinstance(error, urllib3.exceptions.TimeoutError):
        return "no answer within the time limit"
    if isinstance(error, urllib3.exceptions.SSLError):
        return "the TLS handshake failed (is the certificate valid for this hostname?)"
    if isinstance(error, urllib3.exceptions.ProtocolError):
        return "the connection was closed before an answer"
    return f"the request failed ({type(error).__name__})"


def _failed(error: str, started: float) -> Attempt:
    return Attempt(None, "", error, _ms(started))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
