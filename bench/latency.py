"""How soon a domain shows active after Cloudflare activates it: with push, and with the sync
loop alone (prints figures; not a test).

    python bench/latency.py                       # 40 domains each way, SQLite
    python bench/latency.py --domains 100 --poll-window 300
    DATABASE_URL=postgres://... REDIS_URL=redis://... python bench/latency.py

In this process: the Cloudflare simulator (certificate steps immediate once the CNAME is seen),
the app's receiver behind a WSGI server on loopback, a "beat" thread running a sync cycle every
SYNC_SCHEDULE_SECONDS as Celery beat does, and an observer reading each domain's status as the
API answers it. A "worker" thread stands in for Celery's: each notification's kick reaches it at
once, and it acts on the hints PUSH_COALESCE_SECONDS later, as the task's countdown does.

Domains are added (pending, in their first minutes, as `domain_register` leaves them), then
activated at random moments (the customer's CNAME appears) over a window; each one's delay is
the time from activation until the API shows it active. Then the same with push off (no
destination at Cloudflare). Prints p50, p99 and max for each, and the Cloudflare calls spent per
activation.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import threading
import time

import setup_env  # noqa: E402 - before anything that imports Django

WORKDIR = setup_env.configure("latency", ALLOWED_HOSTS="127.0.0.1,localhost")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import close_old_connections  # noqa: E402

from accounts.models import Organization  # noqa: E402
from domains import sync  # noqa: E402
from domains.models import CloudflareHint, Domain, DomainStatus  # noqa: E402
from domains.push import services as push  # noqa: E402
from domains.services import domain_register  # noqa: E402
from sandbox.cloudflare import CloudflareSandbox  # noqa: E402

SECRET = "bench-push-secret"  # noqa: S105 - the simulator's and the receiver's shared secret


def start() -> tuple[CloudflareSandbox, str]:
    sim = setup_env.start_simulator()
    settings.CLOUDFLARE_WEBHOOK_SECRET = SECRET
    settings.PLAN_LIMIT_FREE = 10**6
    return sim, f"{setup_env.serve_app()}/webhooks/cloudflare"


KICKED = threading.Event()


def kick(*, passing: bool = False) -> None:
    """`push.kick_hints`'s stand-in: a passing step's kick arrives PUSH_SETTLE_SECONDS later."""
    if not passing:
        KICKED.set()
        return
    later = float(settings.PUSH_SETTLE_SECONDS) - push.PUSH_COALESCE_SECONDS
    threading.Timer(max(0.0, later), KICKED.set).start()


def worker(stop: threading.Event) -> None:
    """What a Celery worker does with `process_hints` kicked with its countdown."""
    while not stop.is_set():
        if not KICKED.wait(0.5):
            continue
        time.sleep(push.PUSH_COALESCE_SECONDS)
        KICKED.clear()
        push.hints_process()
        close_old_connections()


def beat(stop: threading.Event) -> None:
    """A sync cycle every SYNC_SCHEDULE_SECONDS, like Celery beat's entry."""
    interval = float(settings.CELERY_BEAT_SCHEDULE["every-1m-schedule-domain-sync"]["schedule"])
    while not stop.wait(interval):
        sync.run_cycle(trigger="bench")
        close_old_connections()


def measure(sim: CloudflareSandbox, label: str, count: int, window: float, seed: int) -> None:
    org, _ = Organization.objects.get_or_create(slug=f"bench-{label}", defaults={"name": label})
    domains = [
        domain_register(organization=org, hostname=f"{label}{n}.bench-customer.dev").domain
        for n in range(count)
    ]
    rng = random.Random(seed)
    moments = sorted((rng.uniform(0, window), d) for d in domains)
    calls_before = len(sim.requests)
    stop = threading.Event()
    threading.Thread(target=beat, args=(stop,), daemon=True).start()
    threading.Thread(target=worker, args=(stop,), daemon=True).start()
    started = time.monotonic()
    activated: dict[str, float] = {}
    seen: dict[str, float] = {}
    pending = {str(d.pk) for d in domains}
    queue = list(moments)
    while pending:
        now = time.monotonic() - started
        while queue and queue[0][0] <= now:
            _, domain = queue.pop(0)
            sim.set_cname(domain.hostname, True)
            activated[str(domain.pk)] = time.monotonic()
        active = set(
            Domain.objects.filter(pk__in=pending, status=DomainStatus.ACTIVE).values_list(
                "pk", flat=True
            )
        )
        for pk in {str(p) for p in active}:
            seen[pk] = time.monotonic()
            pending.discard(pk)
        if now > window + 900:
            break
        time.sleep(0.05)
    stop.set()
    delays = sorted(seen[pk] - activated[pk] for pk in seen if pk in activated)
    calls = len(sim.requests) - calls_before
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"{label:<9} {len(delays)}/{count} active; delay p50 {statistics.median(delays):6.2f}s  "
        f"p99 {p99:6.2f}s  max {delays[-1]:6.2f}s; Cloudflare calls {calls} "
        f"({calls / count:.1f} per activation, registration excluded); "
        f"hints {CloudflareHint.objects.count()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--domains", type=int, default=40)
    parser.add_argument("--push-window", type=float, default=20.0)
    parser.add_argument("--poll-window", type=float, default=120.0)
    args = parser.parse_args()
    if "DATABASE_URL" not in os.environ:
        print(f"SQLite file: {settings.DATABASES['default']['NAME']}")
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)
    sim, url = start()
    print(
        f"{args.domains} domains each way; push activations over {args.push_window:.0f}s, "
        f"poll-only over {args.poll_window:.0f}s; sync cycle every "
        f"{settings.CELERY_BEAT_SCHEDULE['every-1m-schedule-domain-sync']['schedule']:.0f}s"
    )
    push.kick_hints = kick  # the kick reaches our stand-in worker, not a broker
    sim.alerts.subscribe(url, SECRET)
    measure(sim, "push", args.domains, args.push_window, seed=1)
    sim.alerts.reset()  # no destination: Cloudflare tells nobody
    settings.CLOUDFLARE_WEBHOOK_SECRET = ""  # and push is switched off here too
    measure(sim, "poll-only", args.domains, args.poll_window, seed=2)


if __name__ == "__main__":
    main()
