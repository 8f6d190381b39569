from __future__ import annotations

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    """The simulators of GitHub, Stripe, Cloudflare and DNS, installed only when SANDBOX is on."""

    name = "sandbox"
    verbose_name = "Sandbox simulators"
