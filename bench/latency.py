"""How soon a domain shows Active as a user sees it, with the product running as it runs
(prints figures; not a test).

    python bench/latency.py                        # both profiles, push on and off
    python bench/latency.py --profile make-run --domains 5
    python bench/latency.py --tree ../other-checkout  # every process from another checkout

Each run starts, in a fresh folder and on free loopback ports, the processes of `make run`
(Procfile.dev): the sandbox (`manage.py sandbox`: Cloudflare, DNS and the rest, Cloudflare on its
own clock), a Celery worker with beat, and the web app under gunicorn (the API, the dashboard and
the receiver of Cloudflare's notifications). SQLite and the filesystem broker unless
DATABASE_URL / REDIS_URL are set. Domains are added through the API; each one's CNAME is then
added at a random moment over a window, with the sandbox page's "The customer added the CNAME"
button; a reader asks the API for the active domains every 0.25 s, as a dashboard would.

Cloudflare's step delays (per hostname and step, uniform in the range given):
- realistic: validation 4.5-85.5 s after the CNAME appears (Cloudflare notices it at its next
  check; its first checks are about 60-93 s apart), issuance 6-114 s, deployment 3-57 s;
- make-run: the sandbox's own, `make run` as shipped: validation as soon as the CNAME is seen
  (its DNS answers are cached 2 s), issuance 5 s, deployment 5 s.

For each domain: after-final-step = first seen active by the reader - the moment Cloudflare's
certificate went active (the simulator's `issued_on`); from-cname = first seen active - the
CNAME added. Calls per activation = the requests the simulator answered while the domains
activated (push GETs, sync cycles, everything), divided by the domains. Push off means no
notification destination at Cloudflare and CLOUDFLARE_WEBHOOK_SECRET empty: the poller alone.

Prints a line per run and, last, the realistic profile with push on:
    activation p50 <s> p99 <s> after-final-step; from-cname p50 <s>; calls/activation <n>
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {
    "realistic": "validation=45,issuance=60,deployment=30,spread=0.9",
    "make-run": "",
}
SANDBOX_TOKEN = "sandbox-cloudflare-token"  # noqa: S105 - the simulator's own (dcvaas/settings.py)
SANDBOX_ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
POLL_SECONDS = 0.25


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Stack:
    """The processes of one run; `stop` ends them all."""

    tree: Path
    workdir: Path
    env: dict[str, str]
    web: str = ""
    sandbox: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", *args],
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        return result.stdout

    def start(self, name: str, command: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes.append(
            subprocess.Popen(  # noqa: S603 - fixed commands
                command, cwd=self.tree, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(tree: Path, *, push: bool, delays: str) -> Stack:
    workdir = Path(tempfile.mkdtemp(prefix="dcvaas-bench-latency-"))
    ports = {
        name: _free_port() for name in ("web", "cf", "dns", "gh", "stripe", "inbox", "tls", "app")
    }
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLOUDFLARE_", "STRIPE_", "GITHUB_", "DJANGO_SETTINGS_MODULE"))
    }
    env.update(
        {
            "DEBUG": "true",  # as `make run`
            "SANDBOX": "true",
            "LOG_LEVEL": "WARNING",
            "CELERY_DATA_DIR": str(workdir / "celery"),
            "SANDBOX_STATE_DIR": str(workdir / "sandbox"),
            "SITE_URL": f"http://127.0.0.1:{ports['web']}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SANDBOX_CLOUDFLARE_PORT": str(ports["cf"]),
            "SANDBOX_DNS_PORT": str(ports["dns"]),
            "SANDBOX_GITHUB_PORT": str(ports["gh"]),
            "SANDBOX_STRIPE_PORT": str(ports["stripe"]),
            "SANDBOX_INBOX_PORT": str(ports["inbox"]),
            "SANDBOX_APP_TLS_PORT": str(ports["tls"]),
            "SANDBOX_APP_PORT": str(ports["app"]),
            "PLAN_LIMIT_FREE": "100000",
            "API_THROTTLE_RATE": "1000000/min",
        }
    )
    if not push:
        env["CLOUDFLARE_WEBHOOK_SECRET"] = ""
    if "DATABASE_URL" not in env:
        env["SQLITE_PATH"] = str(workdir / "db.sqlite3")
    stack = Stack(tree=tree, workdir=workdir, env=env)
    try:
        _start_processes(stack, ports, delays)
    except BaseException:
        stack.stop()
        raise
    return stack


def _start_processes(stack: Stack, ports: dict[str, int], delays: str) -> None:
    stack.manage("migrate", "--no-input")
    stack.manage("createcachetable")
    sandbox = [sys.executable, "manage.py", "sandbox"]
    stack.start("sandbox", sandbox + (["--cloudflare-delays", delays] if delays else []))
    stack.start(
        "worker",
        [sys.executable, "-m", "celery", "-A", "dcvaas", "worker", "--beat"]
        + ["--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"]
        + ["--loglevel", "WARNING", "--concurrency", "2"],
    )
    stack.start(
        "web",
        [sys.executable, "-m", "gunicorn", "dcvaas.wsgi", "--bind", f"127.0.0.1:{ports['web']}"]
        + ["--workers", "3"],
    )
    stack.web = stack.env["SITE_URL"]
    stack.sandbox = f"http://127.0.0.1:{ports['cf']}"
    _wait_until_up(stack, f"{stack.web}/healthz")
    _wait_until_up(stack, f"{stack.sandbox}/sandbox/")


def _wait_until_up(stack: Stack, url: str) -> None:
    """Until `url` answers (each process's log says why when it never does)."""
    for _ in range(240):
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass  # not up yet (refused, or too busy starting to answer)
        if any(p.poll() is not None for p in stack.processes):
            break
        time.sleep(0.25)
    logs = "\n".join(p.read_text()[-2000:] for p in stack.workdir.glob("*.log"))
    raise RuntimeError(f"{url} never answered:\n{logs}")


def api_token(stack: Stack) -> str:
    code = (
        "from accounts.models import Membership, Organization, Role, User\n"
        "from accounts.services import api_token_create\n"
        "org = Organization.objects.create(name='Bench', slug='bench-latency')\n"
        "user = User.objects.create(username='bench-latency')\n"
        "Membership.objects.create(user=user, organization=org, role=Role.OWNER)\n"
        "print(api_token_create(organization=org, created_by=user, name='bench')[1])\n"
    )
    return stack.manage("shell", "-c", code).strip().splitlines()[-1]


def sandbox_requests(stack: Stack) -> int | None:
    """Requests the simulator has answered (None: a sandbox without that count)."""
    answer = requests.get(f"{stack.sandbox}/sandbox/requests.json", timeout=10)
    return int(answer.json()["requests"]) if answer.status_code == 200 else None


def active_ids(stack: Stack, token: str) -> set[str]:
    found: set[str] = set()
    url: str | None = f"{stack.web}/api/v1/domains?status=active&page_size=200"
    while url:
        page = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
        found |= {d["id"] for d in page["results"]}
        url = page["next"]
    return found


def issued_on(stack: Stack, hostname: str) -> datetime:
    answer = requests.get(
        f"{stack.sandbox}/client/v4/zones/{SANDBOX_ZONE}/custom_hostnames",
        params={"hostname": hostname},
        headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        timeout=10,
    ).json()
    (certificate,) = answer["result"][0]["ssl"]["certificates"]
    return datetime.fromisoformat(certificate["issued_on"].replace("Z", "+00:00"))


@dataclass
class Result:
    label: str
    after_final: list[float]
    from_cname: list[float]
    calls: int | None
    domains: int

    def line(self) -> str:
        calls = "n/a" if self.calls is None else f"{self.calls / self.domains:.2f}"
        return (
            f"activation p50 {_p(self.after_final, 50):.2f} p99 {_p(self.after_final, 99):.2f} "
            f"after-final-step; from-cname p50 {_p(self.from_cname, 50):.2f}; "
            f"calls/activation {calls}"
        )


def _p(values: list[float], percent: int) -> float:
    """The median for 50, else the nearest-rank percentile."""
    ordered = sorted(values)
    if percent == 50:
        return statistics.median(ordered)
    return ordered[max(0, math.ceil(len(ordered) * percent / 100) - 1)]


def measure(tree: Path, profile: str, *, push: bool, count: int, window: float) -> Result:
    label = f"{profile}, push {'on' if push else 'off'}"
    stack = start_stack(tree, push=push, delays=PROFILES[profile])
    try:
        token = api_token(stack)
        headers = {"Authorization": f"Bearer {token}"}
        run = random.Random(f"{profile}-{push}")  # noqa: S311 - not security
        domains = {}
        for n in range(count):
            hostname = f"shop{n}-{run.getrandbits(24):06x}.bench-customer.dev"
            added = requests.post(
                f"{stack.web}/api/v1/domains",
                json={"hostname": hostname},
                headers=headers,
                timeout=30,
            )
            added.raise_for_status()
            domains[added.json()["id"]] = hostname
        time.sleep(5)  # the validation records appear (3 s), as a customer would read them
        before = sandbox_requests(stack)
        moments = sorted((run.uniform(0, window), pk) for pk in domains)
        pressed: dict[str, float] = {}
        seen: dict[str, float] = {}
        started = time.time()
        while len(seen) < count and time.time() - started < window + 900:
            while moments and moments[0][0] <= time.time() - started:
                _, pk = moments.pop(0)
                requests.post(
                    f"{stack.sandbox}/sandbox/action",
                    data={"hostname": domains[pk], "action": "cname"},
                    allow_redirects=False,
                    timeout=10,
                )
                pressed[pk] = time.time()
            now = time.time()
            for pk in active_ids(stack, token) - set(seen):
                seen[pk] = now
            time.sleep(POLL_SECONDS)
        after = sandbox_requests(stack)
        after_final = [seen[pk] - issued_on(stack, domains[pk]).timestamp() for pk in seen]
        from_cname = [seen[pk] - pressed[pk] for pk in seen]
        calls = None if before is None or after is None else after - before
    finally:
        stack.stop()
        shutil.rmtree(stack.workdir, ignore_errors=True)
    result = Result(label, after_final, from_cname, calls, count)
    missing = count - len(seen)
    print(
        f"{label:<22} {len(seen)}/{count} active{f' ({missing} never)' if missing else ''}; "
        f"{result.line()}; after-final-step max {max(after_final):.2f}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--profile", choices=[*PROFILES, "both"], default="both")
    parser.add_argument("--domains", type=int, default=30)
    parser.add_argument("--window", type=float, default=30.0, help="seconds the CNAMEs spread over")
    parser.add_argument("--no-push-off", action="store_true", help="skip the poller-alone runs")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout to run")
    args = parser.parse_args()
    profiles = list(PROFILES) if args.profile == "both" else [args.profile]
    print(
        f"{args.domains} domains a run, CNAMEs over {args.window:.0f} s; "
        f"{'PostgreSQL' if os.environ.get('DATABASE_URL') else 'SQLite'}, "
        f"{'Redis' if os.environ.get('REDIS_URL') else 'filesystem broker'}; tree {args.tree}",
        flush=True,
    )
    results = {}
    for profile in reversed(profiles):  # the headline (realistic, push on) last
        for push in ([False] if not args.no_push_off else []) + [True]:
            results[(profile, push)] = measure(
                args.tree.resolve(), profile, push=push, count=args.domains, window=args.window
            )
    headline = results.get(("realistic", True)) or results[(profiles[0], True)]
    print(headline.line())


if __name__ == "__main__":
    main()
