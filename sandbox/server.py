"""The common ground of the sandbox simulators: a small threaded HTTP server on loopback.

Each simulator (GitHub, Cloudflare, Stripe) is a real HTTP server that the app reaches through
its normal client code. A simulator subclasses `SandboxApp`, routes requests in `handle()`, and
is served by `SandboxServer` in a background thread (tests) or in the foreground (commands).
"""

from __future__ import annotations

import abc
import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    # The client's port: requests on one keep-alive connection share it.
    client_port: int = 0

    def arg(self, name: str, default: str = "") -> str:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection without answering (a dropped connection, for fault injection).
    drop: bool = False
    # Seconds between the body's bytes: an answer dribbled out (a slow body, for faults).
    trickle: float = 0.0

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        return cls(
            status=status,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status=status, body=text.encode(), headers={"Content-Type": "text/html"})

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(status=HTTPStatus.FOUND, headers={"Location": location})


class SandboxApp(abc.ABC):
    """A simulator's behaviour. Subclasses implement `handle`; it runs on many threads at once."""

    @abc.abstractmethod
    def handle(self, request: Request) -> Response: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm and the
    # peer's delayed ACK add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
            client_port=int(self.client_address[1]),
        )
        try:
            response = self.server.app.handle(request)
        except Exception:
            logger.exception("sandbox: %s %s failed", self.command, self.path)
            response = Response.json({"error": "sandbox crashed"}, status=500)
        if response.drop:
            self.close_connection = True
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if not response.trickle:
            self.wfile.write(response.body)
            return
        for index in range(len(response.body)):
            self.wfile.write(response.body[index : index + 1])
            self.wfile.flush()
            time.sleep(response.trickle)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up first (its timeout was shorter than a slow answer): normal
            # for a simulator of a slow Cloudflare, not a traceback on the test's output.
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s: " + format, self.server.server_address, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        super().__init__(address, _Handler)


class SandboxServer:
    """Serves a `SandboxApp` on `host:port` (port 0 picks a free one)."""

    def __init__(
        self,
        app: SandboxApp,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.app = app
        self._server = _Server((host, port), app)
        self.scheme = "https" if tls is not None else "http"
        if tls is not None:
            # Handshakes happen in the connection's own thread (on its first read), not in the
            # accepting one: a slow client never holds the others up.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Serve in a background daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
