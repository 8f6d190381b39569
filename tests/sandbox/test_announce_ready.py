"""`make run` says "ready" only once the app answers (the announce_ready process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from sandbox.server import Request, Response, SandboxApp, SandboxServer

ROOT = Path(__file__).resolve().parents[2]


class App(SandboxApp):
    def handle(self, request: Request) -> Response:
        return Response.json({"ok": True})


def test_the_ready_line_comes_only_once_the_app_answers() -> None:
    app = SandboxServer(App())  # bound now (its port is taken), serving only once started
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dcvaas.test_settings", "SITE_URL": app.url}
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "announce_ready", "--wait", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        app.start()  # the app answers from now on
        lines = [process.stdout.readline() for _ in range(2)]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        app.stop()

    assert f"DCVaaS is ready: open {app.url}/" in "".join(lines)
    assert process.returncode == 0
