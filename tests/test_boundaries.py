"""The layout holds: one module (or package) per outside system imports that system's client
library; accounts never depends on billing; the product never imports the simulators.

The simulators under sandbox/ are the outside systems' stand-ins, not the product, and may use
the libraries freely.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("accounts", "billing", "domains", "dcvaas")
NOT_PRODUCT = (ROOT / "dcvaas" / "sandbox",)

# library -> the one place in the product allowed to import it
OWNERS = {
    "requests": "domains/cloudflare/",
    "stripe": "billing/stripe_client.py",
    "dns": "domains/dns/",
    # Tenants' webhook endpoints: signed, sent to a checked address.
    "urllib3": "domains/webhooks/sender.py",
    "standardwebhooks": "domains/webhooks/sender.py",
    # Tenants' apps, tested from our side (Test origin).
    "cryptography": "domains/origins/probe.py",
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _product_files(*packages: str) -> list[Path]:
    return [
        path for package in packages or PRODUCT for path in sorted((ROOT / package).rglob("*.py"))
    ]


@pytest.mark.parametrize("library", list(OWNERS))
def test_only_the_owning_module_imports_each_outside_systems_library(library: str) -> None:
    importers = {
        path.relative_to(ROOT).as_posix()
        for path in _product_files()
        if library in _imported_roots(path)
    }

    assert importers, f"nothing imports {library}: is the owner still {OWNERS[library]}?"
    assert {name for name in importers if not name.startswith(OWNERS[library])} == set()


def test_accounts_imports_nothing_from_billing() -> None:
    importers = [
        path.relative_to(ROOT).as_posix()
        for path in _product_files("accounts")
        if "billing" in _imported_roots(path)
    ]

    assert importers == []


def test_the_product_never_imports_the_simulators() -> None:
    importers = [
        path.relative_to(ROOT).as_posix()
        for path in _product_files()
        if "sandbox" in _imported_roots(path)
    ]

    assert importers == []


def test_the_simulators_are_an_app_installed_only_with_the_sandbox_on() -> None:
    code = "from django.conf import settings; print('sandbox' in settings.INSTALLED_APPS)"
    base = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    answers = []
    for sandbox in ("true", "false"):
        env = {
            **base,
            "DJANGO_SETTINGS_MODULE": "dcvaas.settings",
            "DEBUG": "true",
            "SANDBOX": sandbox,
            "GITHUB_CLIENT_ID": "id",
            "GITHUB_CLIENT_SECRET": "secret",
        }
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {code}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        answers.append(result.stdout.strip())

    assert answers == ["True", "False"]


def test_the_wheel_leaves_out_the_simulators_the_benchmarks_and_the_tests() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    included = config["tool"]["setuptools"]["packages"]["find"]["include"]

    packages = {name.rstrip("*") for name in included}

    assert packages == {"dcvaas", "accounts", "domains", "billing"}
