"""Test settings: the production settings module, with only what tests need overridden."""

from __future__ import annotations

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("SANDBOX", "true")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")

from dcvaas.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# allauth's rate limits would trip over the dozens of sign-ins a test run makes; they stay on
# everywhere else.
ACCOUNT_RATE_LIMITS = False
# Plain static storage: tests render templates without running collectstatic.
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
