"""Headers and cookie flags as production sends them: a fresh process with `.env.example`'s values.

The test process runs the test settings; these tests start `manage.py shell` with DEBUG off and
every other value from `.env.example` (the database and cache swapped for local ones), make
requests through Django's test client there, and read back what a browser would receive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_settings_module import _env_example, _manage

SCRIPT = """
import json
from django.core.management import call_command
from django.test import Client, override_settings

call_command("migrate", verbosity=0, interactive=False)
call_command("createcachetable", verbosity=0)
# Only how static files are named: production's manifest needs collectstatic, which is not
# what these tests are about.
storages = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

def cookies(response):
    return {
        name: {
            "secure": bool(morsel["secure"]),
            "httponly": bool(morsel["httponly"]),
            "samesite": morsel["samesite"],
        }
        for name, morsel in response.cookies.items()
    }

with override_settings(STORAGES=storages):
    client = Client(HTTP_HOST="dcvaas.example.net")
    page = client.get("/accounts/login/", secure=True)
    start = client.post("/accounts/github/login/", secure=True)
    plain = client.get("/accounts/login/")
    healthz = client.get("/healthz")

from allauth.account import app_settings
from django.conf import settings
print(json.dumps({
    "page": {"status": page.status_code, "headers": dict(page.headers), "cookies": cookies(page)},
    "start": {"status": start.status_code, "location": start.get("Location", ""),
              "cookies": cookies(start)},
    "plain": {"status": plain.status_code, "location": plain.get("Location", "")},
    "healthz": {"status": healthz.status_code},
    "rate_limits": app_settings.RATE_LIMITS,
    "debug": settings.DEBUG,
}))
"""


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = Path(tmp_path_factory.mktemp("production")) / "db.sqlite3"
    env = {**_env_example(), "DATABASE_URL": "", "REDIS_URL": "", "SQLITE_PATH": str(database)}
    result = _manage("shell", "--no-imports", "-c", SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_debug_is_off(production: dict[str, Any]) -> None:
    assert production["debug"] is False
    assert production["page"]["status"] == 200


def test_hsts_covers_subdomains_for_a_year_and_is_preloadable(production: dict[str, Any]) -> None:
    hsts = production["page"]["headers"]["Strict-Transport-Security"]

    assert hsts == "max-age=31536000; includeSubDomains; preload"


def test_plain_http_is_redirected_to_https_except_the_health_check(
    production: dict[str, Any],
) -> None:
    assert production["plain"]["status"] == 301
    assert production["plain"]["location"] == "https://dcvaas.example.net/accounts/login/"
    assert production["healthz"]["status"] != 301


def test_content_type_sniffing_referrers_and_framing_are_locked_down(
    production: dict[str, Any],
) -> None:
    headers = production["page"]["headers"]

    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_content_security_policy_allows_only_our_files(production: dict[str, Any]) -> None:
    policy = production["page"]["headers"]["Content-Security-Policy"]

    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy


def test_the_csrf_cookie_is_secure_httponly_and_same_site(production: dict[str, Any]) -> None:
    assert production["page"]["cookies"]["csrftoken"] == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }


def test_the_session_cookie_is_secure_httponly_and_same_site(production: dict[str, Any]) -> None:
    # Starting the GitHub sign-in stores its OAuth state in a new session.
    assert production["start"]["status"] == 302
    assert production["start"]["location"].startswith("https://github.com/login/oauth/authorize")
    assert production["start"]["cookies"]["sessionid"] == {
        "secure": True,
        "httponly": True,
        "samesite": "Lax",
    }


def test_allauths_rate_limits_are_on_outside_tests(production: dict[str, Any]) -> None:
    limits = production["rate_limits"]

    assert limits["login"]
    assert limits["login_failed"]
    assert limits["signup"]
