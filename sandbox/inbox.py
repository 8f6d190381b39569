"""A webhook inbox on loopback: receives DCVaaS's webhooks and fails on request.

In `make run` it listens on SANDBOX_INBOX_PORT (8703): add http://127.0.0.1:8703/hooks as an
endpoint, watch deliveries arrive at http://127.0.0.1:8703/, and make the inbox answer 500,
hang, drop connections or dribble its answer, to see retries and the resend button work.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field

from sandbox.server import Request, Response, SandboxApp

MODES = ("ok", "500", "500-first", "slow", "drop", "dribble")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int  # the status code sent back; 0 for a dropped connection
    at: float = field(default_factory=time.time)
    client_port: int = 0  # one per connection the sender opened


class WebhookInbox(SandboxApp):
    """Records every POST; `mode` decides the answer: ok (204), 500, 500-first (500 to a
    message's first attempt, 204 to its retries: a receiver that fails now and then), slow
    (sleeps `delay` seconds, then 204), drop (closes the connection), dribble (a 200 whose body
    comes a byte every `delay` / 10 seconds)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.mode = "ok"
        self.delay = 15.0
        self._arrived = threading.Condition(self._lock)
        self._in_flight = 0  # requests being answered now (a slow answer's whole wait)
        self._seen: set[str] = set()  # webhook-ids answered in 500-first mode

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def wait_for_in_flight(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Until `count` requests are being answered at once (a slow answer has begun)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._in_flight >= count, timeout)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Until `count` deliveries have arrived (or `timeout` passed): a signal, not a sleep."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self._received) >= count, timeout)
            return list(self._received)

    def reset(self) -> None:
        with self._lock:
            self._received.clear()
            self._seen.clear()
            self.mode = "ok"

    def handle(self, request: Request) -> Response:
        if request.method == "POST" and request.path == "/mode":
            mode = request.form().get("mode", "ok")
            if mode in MODES:
                self.mode = mode
            return Response.redirect("/")
        if request.method == "GET":
            return Response.html(self._page())
        mode = self.mode
        if mode == "slow":
            with self._arrived:
                self._in_flight += 1
                self._arrived.notify_all()
            try:
                time.sleep(self.delay)
            finally:
                with self._arrived:
                    self._in_flight -= 1
        if mode == "500-first":
            message = request.headers.get("webhook-id", "")
            with self._lock:
                mode = "ok" if message in self._seen else "500"
                self._seen.add(message)
        answered = {"ok": 204, "slow": 204, "500": 500, "drop": 0, "dribble": 200}[mode]
        with self._arrived:
            self._received.append(
                Received(
                    request.path,
                    request.headers,
                    request.body,
                    answered,
                    client_port=request.client_port,
                )
            )
            self._arrived.notify_all()
        if mode == "drop":
            return Response(drop=True)
        if mode == "dribble":
            return Response(status=200, body=b"x" * 200, trickle=self.delay / 10)
        if mode == "500":
            return Response.json({"error": "the inbox was told to fail"}, status=500)
        return Response(status=204)

    def _page(self) -> str:
        rows = "".join(
            f"<tr><td>{time.strftime('%H:%M:%S', time.localtime(r.at))}</td>"
            f"<td>{html.escape(r.headers.get('webhook-id', ''))}</td>"
            f"<td>{r.answered or 'dropped'}</td>"
            f"<td><code>{html.escape(r.body.decode('utf-8', 'replace')[:300])}</code></td></tr>"
            for r in reversed(self.received())
        )
        buttons = "".join(
            f'<button name="mode" value="{m}"{" disabled" if m == self.mode else ""}>{m}</button> '
            for m in MODES
        )
        return (
            "<!doctype html><meta charset=utf-8><title>Webhook inbox</title>"
            "<style>body{font-family:sans-serif;margin:2rem}td{padding:.3rem;vertical-align:top}"
            "</style><h1>Webhook inbox</h1><p>Add <code>http://127.0.0.1:8703/hooks</code> as "
            f"an endpoint. Answering: <strong>{self.mode}</strong></p>"
            f'<form method="post" action="/mode">{buttons}</form>'
            "<table><tr><th>At</th><th>webhook-id</th><th>Answer</th><th>Body</th></tr>"
            f"{rows or '<tr><td colspan=4>Nothing yet.</td></tr>'}</table>"
        )
