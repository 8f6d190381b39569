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


# ---------------------------------------------------------------------------------------------
# Layers inside domains/: an import may only point down (STYLE.md, "Layers inside an app")
# ---------------------------------------------------------------------------------------------
# (layer, module patterns): a pattern ending in ".*" covers a package and everything in it.
# The first pattern that matches a module decides its layer.
LAYERS: list[tuple[int, tuple[str, ...]]] = [
    # 0 base: models, the outside systems' clients, parsing, the shared rate budget
    (
        0,
        (
            "domains.models",
            "domains.models.*",
            "domains.errors",
            "domains.hostnames",
            "domains.rate_budget",
            "domains.cloudflare",
            "domains.cloudflare.*",
            "domains.dns",
            "domains.dns.*",
        ),
    ),
    # 1 read side: how a domain is shown and explained
    (1, ("domains.serializers", "domains.explain", "domains.guide")),
    # 2 events and schedule: record a change, decide when work is due, start work by name
    (2, ("domains.events", "domains.schedule", "domains.kick")),
    # 3 core: the domain workflows and the owners' emails
    (3, ("domains.services", "domains.notifications", "domains.records", "domains.closing")),
    # 4 features and the loop: siblings (see FEATURES)
    (
        4,
        (
            "domains.origins.services",
            "domains.origins.address",
            "domains.origins.probe",
            "domains.push.services",
            "domains.push.receiver",
            "domains.push.setup",
            "domains.handoffs.services",
            "domains.handoffs.emails",
            "domains.webhooks.services",
            "domains.webhooks.delivery",
            "domains.webhooks.guard",
            "domains.webhooks.sender",
            "domains.webhooks.members",
            "domains.sync",
            "domains.sync.*",
        ),
    ),
    # 5 tasks: the only Celery module
    (5, ("domains.tasks",)),
    # 6 interfaces: views, API, admin, URLs, forms, access helpers, commands, the app config
    (
        6,
        (
            "domains",
            "domains.apps",
            "domains.admin",
            "domains.api",
            "domains.api_urls",
            "domains.urls",
            "domains.views",
            "domains.forms",
            "domains.access",
            "domains.management",
            "domains.management.*",
            "domains.origins",
            "domains.origins.*",
            "domains.push",
            "domains.push.*",
            "domains.webhooks",
            "domains.webhooks.*",
            "domains.handoffs",
            "domains.handoffs.*",
        ),
    ),
]
FEATURES = (
    "domains.origins",
    "domains.push",
    "domains.webhooks",
    "domains.sync",
    "domains.handoffs",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in _product_files()
        if "migrations" not in path.relative_to(ROOT).parts
    }


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules `name` imports, inside functions too; `TYPE_CHECKING` blocks are
    exempt (they never run). `from a import b` counts as a.b when a.b is a module."""
    found: set[str] = set()
    is_package = path.name == "__init__.py"

    def target(base: str, attribute: str | None) -> str | None:
        if attribute and f"{base}.{attribute}" in modules:
            return f"{base}.{attribute}"
        return base if base in modules else None

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.add(target(alias.name, None) or "")
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = name.split(".") if is_package else name.split(".")[:-1]
                    package = package[: len(package) - (child.level - 1)]
                    base = ".".join([*package, base] if base else package)
                for alias in child.names:
                    found.add(target(base, alias.name) or "")
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found - {"", name}


def _layer(module: str) -> int | None:
    for layer, patterns in LAYERS:
        for pattern in patterns:
            if module == pattern or (
                pattern.endswith(".*") and module.startswith(pattern.removesuffix("*"))
            ):
                return layer
    return None


def _feature(module: str) -> str | None:
    return next((f for f in FEATURES if module == f or module.startswith(f + ".")), None)


def test_every_module_of_domains_has_a_layer() -> None:
    unplaced = [name for name in _modules() if name.startswith("domains") and _layer(name) is None]

    assert unplaced == []


def test_imports_in_domains_only_point_down_and_features_never_import_each_other() -> None:
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        if not name.startswith("domains"):
            continue
        layer = _layer(name)
        for imported in _imports(name, path, modules):
            if not imported.startswith("domains") or imported == "domains":
                continue
            other = _layer(imported)
            feature, imported_feature = _feature(name), _feature(imported)
            if other is None or layer is None or other > layer:
                wrong.append(f"{name} (layer {layer}) imports {imported} (layer {other})")
            elif imported_feature and feature and feature != imported_feature:
                wrong.append(f"{name} imports the sibling feature's {imported}")

    assert wrong == []


def test_no_module_below_the_tasks_imports_them() -> None:
    modules = _modules()
    importers = [
        name
        for name, path in modules.items()
        if "domains.tasks" in _imports(name, path, modules) and (_layer(name) or 0) < 5
    ]

    assert importers == []


def test_the_product_has_no_import_circle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    circles = []
    # Tarjan's strongly connected components: any with more than one module is a circle.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph[module]:
            if other not in index:
                connect(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in graph:
        if module not in index:
            connect(module)

    assert circles == []


def test_the_layer_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "late.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from domains import views\n"
        "def f():\n    from domains import tasks\n"
    )

    found = _imports("domains.late", module, {"domains.tasks": module, "domains.views": module})

    assert found == {"domains.tasks"}
