"""The Cloudflare schemas the simulator is validated against are copies kept in the repository
(sandbox/cloudflare/schemas/), so a clone with nothing beside it runs every test. Each copy
names the upstream file it came from and its digest; where the reference folder is beside the
clone (CI, the developers' machines), the copy must still equal it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "sandbox" / "cloudflare" / "schemas"
SOURCES = json.loads((SCHEMAS / "SOURCES.json").read_text())["files"]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_schema_copy_is_the_upstream_file_it_names(name: str) -> None:
    copy = (SCHEMAS / name).read_bytes()

    assert SOURCES[name]["upstream"] == f"shared/cloudflare/{name}"
    assert hashlib.sha256(copy).hexdigest() == SOURCES[name]["sha256"]
    assert json.loads(copy)["openapi"].startswith("3.")


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_each_schema_copy_still_equals_the_reference_beside_the_clone(name: str) -> None:
    upstream = ROOT.parent / SOURCES[name]["upstream"]
    if not upstream.exists():
        pytest.skip(f"no reference folder beside this clone ({SOURCES[name]['upstream']})")

    assert (SCHEMAS / name).read_bytes() == upstream.read_bytes(), (
        f"{SOURCES[name]['upstream']} changed: copy it into sandbox/cloudflare/schemas/ and "
        "update SOURCES.json"
    )


CONTRACT = ROOT / "domains" / "cloudflare" / "CONTRACT.md"


def test_the_cloudflare_contract_copy_is_in_the_repository() -> None:
    text = CONTRACT.read_text()

    assert text.startswith("#")
    assert "§11" in text or "## 11" in text


def test_the_cloudflare_contract_copy_still_equals_the_reference_beside_the_clone() -> None:
    upstream = ROOT.parent / "shared" / "cloudflare" / "CONTRACT.md"
    if not upstream.exists():
        pytest.skip("no reference folder beside this clone (shared/cloudflare/CONTRACT.md)")

    assert CONTRACT.read_bytes() == upstream.read_bytes(), (
        "shared/cloudflare/CONTRACT.md changed: copy it to domains/cloudflare/CONTRACT.md"
    )
