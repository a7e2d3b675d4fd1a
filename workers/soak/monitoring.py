"""Prometheus and Alertmanager beside the soak's fleet (``agentq soak --alerts``).

Real servers (Debian's ``prometheus`` and ``prometheus-alertmanager``, started by
:mod:`workers.alerts.stack`) in the root namespace, on the loopback: Prometheus scrapes an
``agentq serve`` of the soak's own (its ``/metrics`` reads the soak's database and Redis)
every 2 s, evaluates ``deploy/prometheus/alerts.yml`` with every ``for:`` scaled
(:mod:`workers.alerts.render`, the rules' one documented test knob) and sends to
Alertmanager, which delivers to a webhook receiver (:mod:`workers.alerts.receiver`).
After the run the timeline of ``ALERTS`` is read back for the verdict
(:mod:`workers.soak.alert_verdict`), with what the receiver got.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from workers.alerts.receiver import WebhookReceiver
from workers.alerts.render import RULES_FILE
from workers.alerts.stack import Alertmanager, Prometheus
from workers.soak.alert_verdict import (
    LINGERING,
    AlertVerdict,
    Firing,
    Window,
    close,
    intervals,
    judge,
    label_key,
)
from workers.soak.servers import free_port

STEP = 2.0  # scrape and timeline step, seconds (rules are evaluated every second)
SETTLE_SECONDS = 120.0  # after convergence: how long the alerts have to resolve
FOR_SCALE = 0.05  # 1m -> 3 s, 5m -> 15 s: a soak lasts minutes, not hours


class Monitoring:
    """``agentq serve`` + Prometheus + Alertmanager + a webhook receiver
    (:mod:`workers.alerts.stack`, :mod:`workers.alerts.receiver`) for one soak."""

    def __init__(self, workdir: Path, env: dict[str, str], for_scale: float = FOR_SCALE) -> None:
        self.dir = workdir / "monitoring"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.for_scale = for_scale
        self.serve_port = free_port()
        self.serve: subprocess.Popen[bytes] | None = None
        self.receiver: WebhookReceiver | None = None
        self.alertmanager: Alertmanager | None = None
        self.prom: Prometheus | None = None
        self.rules = alert_names(RULES_FILE.read_text())

    @property
    def prometheus(self) -> str:
        assert self.prom is not None
        return self.prom.base

    # --- starting -------------------------------------------------------------------
    def start(self) -> None:
        serve = [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.serve_port)]
        with (self.dir / "serve.log").open("ab") as log:
            self.serve = subprocess.Popen(
                serve,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.receiver = WebhookReceiver().start()
        self.alertmanager = Alertmanager(self.receiver.url)
        self.alertmanager.start()
        self.prom = Prometheus(
            [f"127.0.0.1:{self.serve_port}"],
            f"127.0.0.1:{self.alertmanager.port}",
            for_scale=self.for_scale,
            scrape_interval=f"{STEP:g}s",
        )
        self.prom.start()
        self._wait_scraped()

    def _wait_scraped(self, timeout: float = 60.0) -> None:
        """Until Prometheus has scraped the soak's ``agentq serve``: alerts from then on
        are the run's."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.serve is not None and self.serve.poll() is not None:
                raise RuntimeError(f"agentq serve exited: see {self.dir / 'serve.log'}")
            try:
                if self.query('up{job="agentq"} == 1'):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus did not scrape agentq serve within {timeout:.0f} s")

    # --- reading --------------------------------------------------------------------
    def query(self, expr: str) -> list[dict[str, Any]]:
        assert self.prom is not None
        return self.prom.query(expr)

    def firing_now(self) -> set[str]:
        """The alert names firing now (empty when Prometheus does not answer)."""
        try:
            rows = self.query('ALERTS{alertstate="firing"}')
        except OSError:
            return set()
        return {r["metric"].get("alertname", "?") for r in rows}

    def raised(self) -> set[str]:
        """The alerts firing now that Alertmanager has also delivered as firing. (An
        alert that resolves before Alertmanager's group wait is over is never sent, nor
        its resolution: a fault is held until its alerts are here.)"""
        delivered = {name for name, statuses in self.delivered().items() if "firing" in statuses}
        return self.firing_now() & delivered

    def timeline(self, t0_wall: float) -> list[Firing]:
        """Every stretch of firing since ``t0_wall``, in seconds after it."""
        now = time.time()
        # A range query answers at most 11 000 points per series: a long soak needs a
        # coarser step than its evaluation interval.
        step = max(STEP, (now - t0_wall) / 10_000)
        q = {"query": 'ALERTS{alertstate="firing"}', "start": t0_wall, "end": now, "step": step}
        assert self.prom is not None
        series = self.prom.get("/api/v1/query_range", **{k: str(v) for k, v in q.items()})
        series = series["data"]["result"]
        ongoing = {label_key(r["metric"]) for r in self.query('ALERTS{alertstate="firing"}')}
        return close(intervals(series, t0_wall, step), ongoing)

    def verdict(self, faults: list[Window], t0_wall: float) -> tuple[AlertVerdict, dict[str, Any]]:
        """Once the fleet has converged: give the alerts up to ``SETTLE_SECONDS`` to
        resolve (their ``for:`` and a scrape or two), then judge the whole timeline."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while self.firing_now() - set(LINGERING) and time.monotonic() < deadline:
            time.sleep(1.0)
        settled_at = time.time() - t0_wall
        timeline = self.timeline(t0_wall)
        v = judge(faults, timeline, settled_at, self.rules)
        delivered = self.delivered()
        # Alertmanager must have delivered each alert a fault raised to the receiver.
        raised = {name for names in v.raised.values() for name in names}
        v.missing += [
            f"{name}: fired, but Alertmanager never delivered it"
            for name in sorted(raised)
            if "firing" not in delivered.get(name, [])
        ]
        detail = {
            "settled_seconds": round(settled_at, 1),
            "timeline": [
                {"alert": f.alertname, "labels": dict(f.labels), "start": round(f.start, 1)}
                | {"end": None if f.end is None else round(f.end, 1)}
                for f in timeline
            ],
            "delivered": delivered,
        }
        return v, detail

    def delivered(self) -> dict[str, list[str]]:
        """Alert name -> the statuses (firing, resolved) the receiver got for it."""
        got: dict[str, set[str]] = {}
        for note in self.receiver.notifications() if self.receiver else []:
            for alert in note.get("alerts", []):
                name = alert.get("labels", {}).get("alertname", "?")
                got.setdefault(name, set()).add(str(alert.get("status")))
        return {name: sorted(statuses) for name, statuses in sorted(got.items())}

    def stop(self) -> None:
        for part in (self.prom, self.alertmanager):
            if part is not None:
                part.destroy()
        self.prom = self.alertmanager = None
        if self.serve is not None and self.serve.poll() is None:
            self.serve.terminate()
            try:
                self.serve.wait(20)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                self.serve.wait(5)
        self.serve = None
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None


def alert_names(rules_text: str) -> set[str]:
    """The ``alert:`` names of a rules file (its text: one rule per ``- alert: Name``)."""
    names = set()
    for line in rules_text.splitlines():
        head, _, rest = line.strip().lstrip("- ").partition(":")
        if head == "alert" and rest.strip():
            names.add(rest.strip().strip("\"'"))
    return names
