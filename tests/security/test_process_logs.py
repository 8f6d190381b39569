"""What the processes themselves print, outside our request log: gunicorn's access log as the
Procfile runs it, and Django's own "Not Found" line while DEBUG is on. Neither may carry a
query string or a token."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "dcv_" + "S3cretT0ken" * 4  # shaped like an API token: redacted wherever it appears


def _environment(**extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    environment.update(extra)
    return environment


def test_with_debug_on_djangos_not_found_line_is_redacted_too(tmp_path: Path) -> None:
    code = (
        "import django; django.setup(); from django.test import Client; "
        f"Client().get('/nothing/{TOKEN}/')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_environment(
            DJANGO_SETTINGS_MODULE="dcvaas.settings",
            DEBUG="true",
            ALLOWED_HOSTS="testserver",
            SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert "Not Found: /nothing/[redacted]/" in result.stderr
    assert TOKEN not in result.stderr + result.stdout


def test_gunicorns_access_log_as_the_procfile_runs_it_has_no_query_string(
    tmp_path: Path,
) -> None:
    web = next(
        line.split(":", 1)[1].strip()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.startswith("web:")
    )
    log = tmp_path / "gunicorn.log"
    environment = _environment(
        # Port 0: gunicorn binds a free port and says which (one picked here could be taken
        # before gunicorn binds it).
        PORT="0",
        WEB_CONCURRENCY="1",
        SECRET_KEY="process-log-test-" + "x" * 40,
        ALLOWED_HOSTS="127.0.0.1",
        SANDBOX="true",
        SQLITE_PATH=str(tmp_path / "db.sqlite3"),
        CELERY_DATA_DIR=str(tmp_path / "celery"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    with log.open("wb") as output:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {web}"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not (listening := re.search(r"Listening at: http://[\d.]+:(\d+)", log.read_text())):
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        port = int(listening.group(1))
        url = f"http://127.0.0.1:{port}/healthz?code=oauth-code-1234&token={TOKEN}"
        requests.get(url, timeout=30)
        # gunicorn writes the access line after the response: wait for it, not for a time.
        while not re.search(r'"GET /healthz', log.read_text()):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    text = log.read_text()
    assert re.search(r'"GET /healthz HTTP/1\.1" \d{3}', text), text
    assert "oauth-code-1234" not in text
    assert TOKEN not in text
