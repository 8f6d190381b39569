"""The settings module, run as production would run it: in a fresh process, from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env_example() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "DCVAAS_ENV_FILE")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "dcvaas.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_variable_the_settings_read_is_documented_in_env_example() -> None:
    import re

    source = (ROOT / "dcvaas" / "settings.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_]+)"', source))
    documented = set(
        re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert read - documented == set()


def test_check_deploy_is_clean_with_the_production_like_env_example() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_env_example())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error() -> None:
    env = _env_example()
    del env["SECRET_KEY"]
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_defaults_to_off() -> None:
    env = _env_example()
    del env["DEBUG"]
    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_without_database_url_the_database_is_sqlite_tuned_for_two_processes() -> None:
    code = (
        "from django.conf import settings; d = settings.DATABASES['default']; "
        "print(d['ENGINE'], d['OPTIONS']['transaction_mode'], "
        "'journal_mode=WAL' in d['OPTIONS']['init_command'])"
    )
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.sqlite3", "IMMEDIATE", "True"]


def test_without_redis_url_broker_and_cache_need_no_server() -> None:
    code = (
        "from django.conf import settings; "
        "print(settings.CELERY_BROKER_URL, settings.CACHES['default']['BACKEND'])"
    )
    result = _manage("shell", "--no-imports", "-c", code, env={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "filesystem://localhost//",
        "django.core.cache.backends.db.DatabaseCache",
    ]


def test_with_urls_set_the_database_is_postgresql_and_redis_serves_broker_cache_and_sessions() -> (
    None
):
    code = (
        "from django.conf import settings; "
        "print(settings.DATABASES['default']['ENGINE'], settings.CELERY_BROKER_URL, "
        "settings.CACHES['default']['BACKEND'], settings.SESSION_ENGINE)"
    )
    env = {
        "DEBUG": "true",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/dcvaas",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
    }
    result = _manage("shell", "--no-imports", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.postgresql",
        "redis://127.0.0.1:6379/3",
        "django.core.cache.backends.redis.RedisCache",
        "django.contrib.sessions.backends.cached_db",
    ]


def test_a_local_env_file_lets_the_readmes_commands_run_without_exporting_anything(
    tmp_path: Path,
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\n")
    code = "from django.conf import settings; print(settings.DEBUG)"

    with_file = _manage("shell", "--no-imports", "-c", code, env={"DCVAAS_ENV_FILE": str(env_file)})
    without = _manage("shell", "--no-imports", "-c", code, env={"DCVAAS_ENV_FILE": ""})

    assert with_file.returncode == 0, with_file.stderr
    assert with_file.stdout.strip() == "True"
    assert without.returncode != 0
    assert "SECRET_KEY is not set" in without.stderr


def test_the_environment_wins_over_the_local_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nDCV_CNAME_TARGET=from-the-file.example\n")
    code = "from django.conf import settings; print(settings.DCV_CNAME_TARGET)"

    result = _manage(
        "shell",
        "--no-imports",
        "-c",
        code,
        env={"DCVAAS_ENV_FILE": str(env_file), "DCV_CNAME_TARGET": "dcv.from-env.dev"},
    )

    assert result.stdout.strip() == "dcv.from-env.dev", result.stderr
