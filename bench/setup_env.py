"""What every benchmark does before importing Django: a temporary folder, the settings a
benchmark runs with (SQLite in that folder unless DATABASE_URL is set, the sandbox on, warnings
only), then `django.setup()`. Import it first: `WORKDIR = setup_env.configure("sync")`."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def configure(name: str, **extra: str) -> Path:
    """Set the environment (`extra` overrides defaults, the caller's environment wins over
    both), set Django up, and return the benchmark's temporary folder."""
    sys.path.insert(0, str(REPO_ROOT))
    workdir = Path(tempfile.mkdtemp(prefix=f"dcvaas-bench-{name}-"))
    defaults = {
        "DJANGO_SETTINGS_MODULE": "dcvaas.settings",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-0123456789",
        "SANDBOX": "true",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "WARNING",
        "SQLITE_PATH": str(workdir / "bench.sqlite3"),
        "CELERY_DATA_DIR": str(workdir / "celery"),
        **extra,
    }
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    import django

    django.setup()
    return workdir
