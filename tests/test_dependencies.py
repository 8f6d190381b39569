"""Production and development dependencies are locked apart, and agree where they meet."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _pins(name: str) -> dict[str, str]:
    lines = (ROOT / name).read_text().splitlines()
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", "\n".join(lines), re.M))


def test_production_installs_no_test_or_development_tool() -> None:
    production = _pins("requirements.lock")

    assert production, "requirements.lock pins nothing"
    assert {"honcho", "pytest", "ruff", "mypy", "playwright", "schemathesis"} & {
        name.lower() for name in production
    } == set()


def test_the_development_lock_keeps_every_production_version() -> None:
    production, development = _pins("requirements.lock"), _pins("requirements-dev.lock")

    assert {name: development.get(name) for name in production} == production
    assert "honcho" in development


def test_stripe_is_pinned_to_the_major_version_the_tests_run_against() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    declared = next(spec for spec in dependencies if spec.startswith("stripe"))
    major = _pins("requirements.lock")["stripe"].split(".")[0]

    assert declared.replace(" ", "") == f"stripe>={major},<{int(major) + 1}"
