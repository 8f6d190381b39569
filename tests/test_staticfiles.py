"""The static files storage gives the URLs whitenoise's gives, and works each out only once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from whitenoise.storage import CompressedManifestStaticFilesStorage

from dcvaas.staticfiles import StaticFilesStorage

MANIFEST = {
    "version": "1.1",
    "paths": {"css/app.css": "css/app.5f1d2c.css", "vendor/htmx 2.js": "vendor/htmx 2.9e8f.js"},
    "hash": "abc",
}


@pytest.fixture
def root(tmp_path: Path, settings: Any) -> Path:
    settings.DEBUG = False  # hashed names only outside DEBUG
    (tmp_path / "staticfiles.json").write_text(json.dumps(MANIFEST))
    return tmp_path


@pytest.mark.parametrize("name", ["css/app.css", "vendor/htmx 2.js"])
def test_its_urls_are_whitenoises(root: Path, name: str) -> None:
    ours = StaticFilesStorage(location=root, base_url="/static/")
    theirs = CompressedManifestStaticFilesStorage(location=root, base_url="/static/")

    assert ours.url(name) == ours.url(name) == theirs.url(name)


def test_a_url_is_worked_out_once(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = StaticFilesStorage(location=root, base_url="/static/")
    calls: list[str] = []
    original = CompressedManifestStaticFilesStorage.url

    def counted(self: Any, name: str, force: bool = False) -> str:
        calls.append(name)
        return original(self, name, force)

    monkeypatch.setattr(CompressedManifestStaticFilesStorage, "url", counted)

    urls = {storage.url("css/app.css") for _ in range(3)}

    assert urls == {"/static/css/app.5f1d2c.css"}
    assert calls == ["css/app.css"]
