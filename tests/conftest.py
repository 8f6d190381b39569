"""The fixed cast and the environment checks shared by every test.

alice owns "Acme", bob is a member of Acme, charlie owns "Umbrella" (another tenant).
Simulator fixtures live in tests/fixtures/, one module per outside system, loaded below.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.test import Client
from django.utils import timezone
from hypothesis import settings as hypothesis_settings

from accounts.models import Membership, Organization, Role, User
from accounts.services import api_token_create
from billing.models import Subscription
from billing.plans import PlanKey, get_plan
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytest_plugins = sorted(
    f"tests.fixtures.{path.stem}"
    for path in (Path(__file__).parent / "fixtures").glob("*.py")
    if path.stem != "__init__"
)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# A developer's local .env (written by `make run`) must not reach the processes tests start:
# they set exactly the environment they test.
os.environ["DCVAAS_ENV_FILE"] = ""

# Under CI, property-based tests (hypothesis, schemathesis) explore the same examples on every
# run, so a red build is reproducible and never a coin toss; locally they explore afresh.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    hypothesis_settings.load_profile("ci")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "", parsed.port or default_port), 3):
            return True
    except OSError:
        return False


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI nothing may be skipped for want of a service: a missing one fails the run."""
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    problems = []
    database_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not database_url.startswith("postgres"):
        problems.append("DATABASE_URL must point at PostgreSQL under CI")
    elif not _reachable(database_url, 5432):
        problems.append(f"PostgreSQL is not reachable at {urlparse(database_url).netloc}")
    if not redis_url:
        problems.append("REDIS_URL must be set under CI")
    elif not _reachable(redis_url, 6379):
        problems.append(f"Redis is not reachable at {urlparse(redis_url).netloc}")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        problems.append(f"Chromium is missing ({CHROMIUM}); install Debian's chromium")
    if problems:
        pytest.exit("CI environment incomplete:\n  " + "\n  ".join(problems), returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.path.exists(CHROMIUM):
        return
    skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM} (CI requires it)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clear_cache(request: pytest.FixtureRequest) -> None:
    """Throttles and locks live in the cache; each test that can reach it starts empty.

    Without REDIS_URL the cache is a database table, so only tests with database access can
    (and need to) clear it.
    """
    from django.conf import settings
    from django.core.cache import cache

    uses_db = request.node.get_closest_marker("django_db") or {
        "db",
        "transactional_db",
        "live_server",
    } & set(request.fixturenames)
    if uses_db:
        # Set the database up first even when the test reaches it only through a fixture
        # that autouse ordering would run after this one.
        request.getfixturevalue("db")
    if uses_db or "DatabaseCache" not in settings.CACHES["default"]["BACKEND"]:
        cache.clear()


@pytest.fixture
def staff_client(client: Client) -> Client:
    """Signed in as a staff superuser: the admin and the status page."""
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def alice(db: None) -> User:
    return UserFactory(username="alice", email="alice@acme.test-customer.dev")


@pytest.fixture
def acme(alice: User) -> Organization:
    org = OrganizationFactory(name="Acme", slug="acme")
    MembershipFactory(user=alice, organization=org, role=Role.OWNER)
    alice.current_organization = org
    alice.save(update_fields=["current_organization"])
    return org


@pytest.fixture
def bob(acme: Organization) -> User:
    user = UserFactory(username="bob", email="bob@acme.test-customer.dev")
    MembershipFactory(user=user, organization=acme, role=Role.MEMBER)
    return user


@pytest.fixture
def charlie(db: None) -> User:
    user = UserFactory(username="charlie", email="charlie@umbrella.test-customer.dev")
    org = OrganizationFactory(name="Umbrella", slug="umbrella")
    MembershipFactory(user=user, organization=org, role=Role.OWNER)
    user.current_organization = org
    user.save(update_fields=["current_organization"])
    return user


@pytest.fixture
def umbrella(charlie: User) -> Organization:
    return Membership.objects.get(user=charlie).organization


@pytest.fixture
def acme_token(acme: Organization, alice: User) -> str:
    """An API token of Acme's, as alice created it."""
    return api_token_create(organization=acme, created_by=alice, name="acme")[1]


@pytest.fixture
def umbrella_token(umbrella: Organization, charlie: User) -> str:
    """An API token of Umbrella's (charlie's organization)."""
    return api_token_create(organization=umbrella, created_by=charlie, name="umbrella")[1]


@pytest.fixture
def celery_eager() -> Iterator[None]:
    """Tasks started during the test run at once, in this process (as CELERY_TASK_ALWAYS_EAGER
    would), then the app's setting as it was."""
    from celery import current_app

    before = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        yield
    finally:
        current_app.conf.task_always_eager = before


@pytest.fixture
def acme_on_pro(acme: Organization) -> Organization:
    """Acme pays for Pro (15 domains, 5 origins); Umbrella stays on Free."""
    now = timezone.now()
    Subscription.objects.create(
        organization=acme,
        stripe_customer_id="cus_acme",
        stripe_subscription_id="sub_acme",
        stripe_price_id=get_plan(PlanKey.PRO).price_id,
        plan=PlanKey.PRO,
        status="active",
        current_period_start=now - timedelta(days=1),
        current_period_end=now + timedelta(days=29),
        stripe_state_at=now,
    )
    return acme


@pytest.fixture(autouse=True)
def _hermetic_dns(request: pytest.FixtureRequest) -> None:
    """Every test's DNS lookups go to the loopback DNS simulator, never the machine's resolver:
    what a lookup of a test's hostname answers (or how long it hangs) must not depend on the
    machine the tests run on."""
    request.getfixturevalue("dns_sandbox")
