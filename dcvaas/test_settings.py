"""Test settings: the production settings module, with only what tests need overridden."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("SANDBOX", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

import socket  # noqa: E402

from dcvaas.settings import *  # noqa: E402,F403


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# allauth reads GITHUB_URL once, when its GitHub views are imported; the test run's GitHub
# simulator (tests/fixtures/github.py) listens on the port chosen here.
if "GITHUB_URL" in SOCIALACCOUNT_PROVIDERS["github"]:  # noqa: F405
    SANDBOX_GITHUB_PORT = _free_port()
    SOCIALACCOUNT_PROVIDERS["github"]["GITHUB_URL"] = f"http://127.0.0.1:{SANDBOX_GITHUB_PORT}"  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# allauth's rate limits would trip over the dozens of sign-ins a test run makes; they stay on
# everywhere else.
ACCOUNT_RATE_LIMITS = False
# Plain static storage: tests render templates without running collectstatic.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
