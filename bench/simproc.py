"""The Cloudflare simulator in a process of its own, for benchmarks that measure our side.

In the benchmark's own process the simulator's hostnames would count in its resident memory
and its threads would compete with ours for the interpreter lock. Here it runs in a forked
child; the benchmark reaches its API over loopback HTTP as the app does, and calls its
control methods (`set_cname`, `hostnames`, ...) through a pipe:

    sim = SimulatorProcess.start(TimedSimulator)
    sim.set_cname("shop.example.com", True)
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any


class TimedSimulatorMixin:
    """Adds up the time the simulator spends answering (Cloudflare's side of a wall time)."""

    answering = 0.0

    def handle(self, request: Any) -> Any:
        started = time.perf_counter()
        try:
            return super().handle(request)  # type: ignore[misc]
        finally:
            type(self).answering += time.perf_counter() - started

    def answering_seconds(self) -> float:
        return type(self).answering


def _serve(conn: Connection, cls: type[Any] | None) -> None:
    import setup_env

    sim = setup_env.start_simulator(cls)
    conn.send((sim.base_url, sim.token, sim.zone_id))
    while True:
        try:
            method, args, kwargs = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, getattr(sim, method)(*args, **kwargs)))
        except Exception as error:  # noqa: BLE001 - handed back to the caller
            conn.send((False, repr(error)))


class SimulatorProcess:
    """A forked simulator; attribute calls are run there and their results sent back."""

    def __init__(self, conn: Connection, process: Any, base_url: str, token: str, zone: str):
        self._conn = conn
        self.process = process
        self.base_url = base_url
        self.token = token
        self.zone_id = zone

    @classmethod
    def start(cls, sim_class: type[Any] | None = None) -> SimulatorProcess:
        """Fork the simulator (before this process opens a database connection) and point
        Django's settings and the environment (for child processes) at it."""
        import os

        from django.conf import settings

        parent, child = multiprocessing.Pipe()
        process = multiprocessing.get_context("fork").Process(
            target=_serve, args=(child, sim_class), daemon=True
        )
        process.start()
        base_url, token, zone_id = parent.recv()
        for name, value in (
            ("CLOUDFLARE_API_BASE", base_url),
            ("CLOUDFLARE_API_TOKEN", token),
            ("CLOUDFLARE_ZONE_ID", zone_id),
        ):
            setattr(settings, name, value)
            os.environ[name] = value
        settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
        return cls(parent, process, base_url, token, zone_id)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self._conn.send((method, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"simulator {method}: {value}")
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return functools.partial(self.call, name)
