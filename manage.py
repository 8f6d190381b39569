#!/usr/bin/env python
"""Django's command-line utility for administrative tasks.

Locally it first reads `.env` beside it (`make run` writes one with DEBUG=true), so the
README's `python manage.py ...` commands work from the venv without exporting anything.
Variables already set win over the file; `DCVAAS_ENV_FILE` names another file, or none when
empty. Production sets its environment and has no such file (it is never committed).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> None:
    env_file = os.environ.get("DCVAAS_ENV_FILE", str(Path(__file__).resolve().parent / ".env"))
    if env_file and Path(env_file).is_file():
        import environ

        environ.Env.read_env(env_file)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcvaas.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
