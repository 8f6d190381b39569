"""One module (or package) per outside system: only it imports that system's client library.

The simulators under dcvaas/sandbox/ are the outside systems' stand-ins, not the product, and
may use the libraries freely.
"""

from __future__ import annotations

import ast
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
}


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def _product_files() -> list[Path]:
    return [
        path
        for package in PRODUCT
        for path in sorted((ROOT / package).rglob("*.py"))
        if not any(path.is_relative_to(excluded) for excluded in NOT_PRODUCT)
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
