"""The shared outbound rate budget, in its database and Redis forms.

Most tests drive one budget with a fake clock; the last ones start real processes that spend
from the same budget at once (a file SQLite database, PostgreSQL when DATABASE_URL is set,
Redis when REDIS_URL is set) and count what each window granted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from domains.rate_budget import RateBudget, RateBudgetExhausted

REDIS_URL = os.environ.get("REDIS_URL", "")
pytestmark = pytest.mark.django_db

BACKENDS = ["database", *(["redis"] if REDIS_URL else [])]
WINDOW = 60
# 10 s into a window, so that a test has 50 s of fake time before the window turns.
START = 1_800_000_000 - 1_800_000_000 % WINDOW + 10


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = float(now)
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, settings) -> str:
    settings.REDIS_URL = REDIS_URL if request.param == "redis" else ""
    settings.CLOUDFLARE_RATE_LIMIT = 10
    settings.CLOUDFLARE_RATE_RESERVED = 3
    settings.CLOUDFLARE_RATE_WINDOW = WINDOW
    return request.param


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def budget(backend: str, clock: FakeClock) -> RateBudget:
    # A name of its own, so no other test's spend (or pause) can leak into this one.
    return RateBudget(f"test-{uuid.uuid4().hex[:12]}", clock=clock.time, sleep=clock.sleep)


def spend(budget: RateBudget, priority: str, times: int) -> None:
    for _ in range(times):
        budget.acquire(priority, wait=False)


def test_bulk_callers_stop_at_the_limit_minus_the_reserved_slice(budget: RateBudget) -> None:
    spend(budget, "bulk", 7)

    with pytest.raises(RateBudgetExhausted) as refused:
        budget.acquire("bulk", wait=False)

    assert refused.value.retry_after == pytest.approx(WINDOW - 10)
    assert budget.usage().used == 7


def test_people_still_get_the_reserved_slice_when_bulk_has_saturated_the_window(
    budget: RateBudget,
) -> None:
    spend(budget, "bulk", 7)

    spend(budget, "user", 3)

    with pytest.raises(RateBudgetExhausted):
        budget.acquire("user", wait=False)
    assert budget.usage().used == 10


def test_listings_leave_room_in_the_window_for_the_sync_loops_other_calls(
    budget: RateBudget, settings
) -> None:
    settings.CLOUDFLARE_RATE_LISTING_SHARE = 0.5  # 3 of the 7 a window the sync loop has

    spend(budget, "listing", 3)

    with pytest.raises(RateBudgetExhausted):
        budget.acquire("listing", wait=False)
    spend(budget, "bulk", 4)
    assert budget.usage().used == 7


def test_the_share_used_counts_everyones_calls_against_a_prioritys_allowance(
    budget: RateBudget, clock: FakeClock
) -> None:
    spend(budget, "user", 2)
    spend(budget, "bulk", 5)

    assert budget.share_used("bulk") == pytest.approx(7 / 7)
    assert budget.share_used("user") == pytest.approx(7 / 10)
    clock.now += WINDOW
    assert budget.share_used("bulk") == 0


@pytest.mark.parametrize("share", [0, -0.1, 1.5])
def test_a_listing_share_outside_zero_to_one_is_refused_with_a_clear_error(
    budget: RateBudget, settings, share: float
) -> None:
    settings.CLOUDFLARE_RATE_LISTING_SHARE = share

    with pytest.raises(ImproperlyConfigured, match="CLOUDFLARE_RATE_LISTING_SHARE"):
        budget.acquire("listing", wait=False)


def test_people_may_spend_the_whole_limit_but_then_bulk_gets_nothing(budget: RateBudget) -> None:
    spend(budget, "user", 10)

    with pytest.raises(RateBudgetExhausted):
        budget.acquire("bulk", wait=False)


def test_a_refused_spend_costs_nothing(budget: RateBudget) -> None:
    spend(budget, "bulk", 5)

    with pytest.raises(RateBudgetExhausted):
        budget.acquire("bulk", cost=3, wait=False)

    assert budget.usage().used == 5
    budget.acquire("bulk", cost=2, wait=False)
    assert budget.usage().used == 7


def test_the_next_window_restores_the_allowance(budget: RateBudget, clock: FakeClock) -> None:
    spend(budget, "user", 10)

    clock.now += WINDOW

    assert budget.usage().used == 0
    spend(budget, "bulk", 7)
    assert budget.usage().used == 7


def test_acquire_waits_for_the_window_to_turn_when_asked_to(
    budget: RateBudget, clock: FakeClock
) -> None:
    spend(budget, "bulk", 7)

    budget.acquire("bulk", wait=True, timeout=120)

    assert len(clock.sleeps) == 1
    assert clock.sleeps[0] == pytest.approx(WINDOW - 10, abs=0.1)
    assert budget.usage().used == 1


def test_acquire_gives_up_at_once_when_the_wait_would_outlast_its_timeout(
    budget: RateBudget, clock: FakeClock
) -> None:
    spend(budget, "bulk", 7)

    with pytest.raises(RateBudgetExhausted) as refused:
        budget.acquire("bulk", wait=True, timeout=5)

    assert clock.sleeps == []
    assert refused.value.retry_after == pytest.approx(WINDOW - 10)


def test_a_pause_stops_every_priority_until_it_ends(budget: RateBudget, clock: FakeClock) -> None:
    budget.pause_until(clock.now + 20)

    with pytest.raises(RateBudgetExhausted) as refused:
        budget.acquire("user", wait=False)
    assert refused.value.retry_after == pytest.approx(20)
    assert budget.paused_until() == datetime.fromtimestamp(clock.now + 20, tz=UTC)

    budget.acquire("user", wait=True, timeout=30)

    assert clock.sleeps[0] == pytest.approx(20, abs=0.1)
    assert budget.paused_until() is None


def test_a_shorter_pause_never_cuts_a_longer_one_short(
    budget: RateBudget, clock: FakeClock
) -> None:
    budget.pause_until(clock.now + 20)
    budget.pause_until(clock.now + 5)

    clock.now += 10

    with pytest.raises(RateBudgetExhausted) as refused:
        budget.acquire("user", wait=False)
    assert refused.value.retry_after == pytest.approx(10)


def test_usage_reports_spend_limit_and_when_the_window_resets(budget: RateBudget) -> None:
    spend(budget, "bulk", 4)

    used, limit, reset_at = budget.usage()

    assert (used, limit) == (4, 10)
    assert reset_at == datetime.fromtimestamp(START - 10 + WINDOW, tz=UTC)


def test_a_spend_that_could_never_fit_is_a_programming_error(budget: RateBudget) -> None:
    with pytest.raises(ValueError, match="cost"):
        budget.acquire("bulk", cost=8)
    with pytest.raises(ValueError, match="priority"):
        budget.acquire("background")


# ---------------------------------------------------------------------------------------------
# Several processes at once
# ---------------------------------------------------------------------------------------------
LIMIT, RESERVED, BULK_WORKERS = 60, 10, 4

# Each worker is a separate Python process with its own Django setup and connections. It waits
# for the go file so that all of them spend at the same moment, then:
# - bulk: spends as fast as it can until refused continuously for a second (saturated);
# - user: waits until bulk has saturated the window, then spends the reserved slice at once.
# It prints the window of every grant and the count of refused user spends.
WORKER = """
import json, os, sys, time
import django
django.setup()
from domains.rate_budget import RateBudgetExhausted, budget
priority, go = sys.argv[1], sys.argv[2]
window = 3600
limit = int(os.environ["CLOUDFLARE_RATE_LIMIT"])
reserved = int(os.environ["CLOUDFLARE_RATE_RESERVED"])
print("ready", flush=True)
deadline = time.time() + 60
while not os.path.exists(go):
    assert time.time() < deadline, "never told to go"
    time.sleep(0.01)
granted, refused, refused_since = [], 0, None
if priority == "bulk":
    while time.time() < deadline:
        try:
            budget.acquire("bulk", wait=False)
        except RateBudgetExhausted:
            refused_since = refused_since or time.time()
            if time.time() - refused_since > 1.0:
                break
            time.sleep(0.005)
        else:
            refused_since = None
            granted.append(int(time.time() // window))
else:
    while budget.usage().used < limit - reserved:
        assert time.time() < deadline, "bulk never saturated the window"
        time.sleep(0.01)
    for _ in range(reserved):
        try:
            budget.acquire("user", wait=False)
        except RateBudgetExhausted:
            refused += 1
        else:
            granted.append(int(time.time() // window))
print(json.dumps({"granted": granted, "refused": refused}), flush=True)
"""


def _worker_env(mode: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="dcvaas.test_settings",
        CLOUDFLARE_RATE_LIMIT=str(LIMIT),
        CLOUDFLARE_RATE_RESERVED=str(RESERVED),
        CLOUDFLARE_RATE_WINDOW="3600",
        SQLITE_PATH=str(tmp_path / "budget.sqlite3"),
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    if mode == "postgres":
        # The test database itself: the test runs outside a transaction (transactional_db),
        # so the workers see its table.
        db = connection.settings_dict
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        )
    elif mode == "redis":
        env["REDIS_URL"] = REDIS_URL
    return env


def _create_sqlite_table(env: dict[str, str]) -> None:
    code = (
        "import django; django.setup()\n"
        "from django.db import connection\n"
        "from domains.models import RateBudgetCounter\n"
        "with connection.schema_editor() as editor: editor.create_model(RateBudgetCounter)\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=60)


PROCESS_MODES = [
    "sqlite-file",
    *(["postgres"] if os.environ.get("DATABASE_URL", "").startswith("postgres") else []),
    *(["redis"] if REDIS_URL else []),
]


@pytest.mark.parametrize("mode", PROCESS_MODES)
@pytest.mark.django_db(transaction=True)
def test_processes_sharing_the_budget_never_exceed_a_window_and_people_still_get_through(
    mode: str, tmp_path: Path
) -> None:
    env = _worker_env(mode, tmp_path)
    if mode == "sqlite-file":
        _create_sqlite_table(env)
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, priority, str(go)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for priority in ["user"] + ["bulk"] * BULK_WORKERS
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready", worker.stderr
        go.touch()
        outputs = [worker.communicate(timeout=90) for worker in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    assert all(w.returncode == 0 for w in workers), [err for _, err in outputs]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    user, bulk = results[0], results[1:]

    bulk_per_window = Counter(w for result in bulk for w in result["granted"])
    all_per_window = bulk_per_window + Counter(user["granted"])
    assert sum(bulk_per_window.values()) >= LIMIT - RESERVED  # bulk really saturated it
    assert max(bulk_per_window.values()) <= LIMIT - RESERVED
    assert max(all_per_window.values()) <= LIMIT
    assert user["refused"] == 0
    assert len(user["granted"]) == RESERVED
