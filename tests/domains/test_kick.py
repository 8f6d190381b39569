"""Work is started by name once the transaction that asked for it commits (domains/kick.py)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from celery import current_app
from django.db import transaction

from domains.kick import kick

ROOT = Path(__file__).resolve().parents[2]
STARTED: list[dict[str, Any]] = []


@current_app.task(name="tests.kick_probe")
def kick_probe(**kwargs: Any) -> None:
    STARTED.append(kwargs)


@pytest.fixture
def eager(celery_eager: None) -> None:
    STARTED.clear()


def _kicked_names() -> set[str]:
    names = set()
    for path in (ROOT / "domains").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "kick"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(str(node.args[0].value))
    return names


def test_every_task_started_by_name_is_registered_with_the_app() -> None:
    names = _kicked_names()

    assert names >= {"domains.deliver_webhooks", "domains.sync_origins", "domains.process_hints"}
    assert names - set(current_app.tasks) == set()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager")
def test_a_kick_starts_the_task_with_its_arguments_once_the_transaction_commits() -> None:
    with transaction.atomic():
        kick("tests.kick_probe", domain="app.client.com")

        assert STARTED == []

    assert STARTED == [{"domain": "app.client.com"}]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager")
def test_a_rolled_back_change_starts_nothing() -> None:
    def change_that_fails() -> None:
        with transaction.atomic():
            kick("tests.kick_probe", domain="app.client.com")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()

    assert STARTED == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager")
def test_a_kick_outside_a_transaction_starts_the_task_at_once() -> None:
    kick("tests.kick_probe", origin="o1")

    assert STARTED == [{"origin": "o1"}]
