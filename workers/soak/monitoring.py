"""Prometheus and Alertmanager beside the soak's fleet (``agentq soak --alerts``).

Real servers (Debian's ``prometheus`` and ``prometheus-alertmanager``) in the root
namespace, on the loopback: Prometheus scrapes an ``agentq serve`` of the soak's own
(its ``/metrics`` reads the soak's database and Redis) every second, evaluates
``deploy/prometheus/alerts.yml`` with every ``for:`` scaled (:mod:`workers.alerts.render`,
the rules' one documented test knob) and sends to Alertmanager, which delivers to a
webhook receiver here. After the run the timeline of ``ALERTS`` is read back for the
verdict (:mod:`workers.soak.alert_verdict`), with what the receiver got.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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

STEP = 2.0  # scrape, rule evaluation and timeline step, seconds
SETTLE_SECONDS = 120.0  # after convergence: how long the alerts have to resolve
FOR_SCALE = 0.05  # 1m -> 3 s, 5m -> 15 s: a soak lasts minutes, not hours
ALERTMANAGER = ("prometheus-alertmanager", "alertmanager")


def _binary(names: tuple[str, ...]) -> str:
    for name in names:
        if found := shutil.which(name):
            return found
    raise RuntimeError(f"{names[0]} not found (apt-get install prometheus prometheus-alertmanager)")


class Receiver(ThreadingHTTPServer):
    """Alertmanager's webhook target: keeps every notification it is sent."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", free_port()), _Hook)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def delivered(self) -> dict[str, set[str]]:
        """Alert name -> the statuses delivered for it (firing, resolved)."""
        out: dict[str, set[str]] = {}
        for note in self.notifications:
            for alert in note.get("alerts", []):
                name = alert.get("labels", {}).get("alertname", "?")
                out.setdefault(name, set()).add(str(alert.get("status")))
        return out


class _Hook(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with contextlib.suppress(ValueError):  # Alertmanager sends JSON; anything else is not ours
            self.server.notifications.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


class Monitoring:
    def __init__(self, workdir: Path, env: dict[str, str], for_scale: float = FOR_SCALE) -> None:
        self.dir = workdir / "monitoring"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.for_scale = for_scale
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {name: free_port() for name in ("serve", "prometheus", "alertmanager")}
        self.receiver: Receiver | None = None
        self.rules: set[str] = set()

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    # --- starting -------------------------------------------------------------------
    def start(self) -> None:
        from workers.alerts.render import RULES_FILE, render

        self.receiver = Receiver()
        rules = render(self.for_scale)
        (self.dir / "alerts.yml").write_text(rules)
        self.rules = alert_names(RULES_FILE.read_text())
        (self.dir / "alertmanager.yml").write_text(self._alertmanager_config())
        (self.dir / "prometheus.yml").write_text(self._prometheus_config())
        serve = [sys.executable, "-m", "workers.cli", "serve", "--port", str(self.ports["serve"])]
        self._spawn("serve", serve, {**os.environ, **self.env})
        am = [_binary(ALERTMANAGER), f"--config.file={self.dir / 'alertmanager.yml'}"]
        am += [f"--storage.path={self.dir / 'am-data'}", "--cluster.listen-address="]
        am += [f"--web.listen-address=127.0.0.1:{self.ports['alertmanager']}"]
        self._spawn("alertmanager", am)
        prom = [_binary(("prometheus",)), f"--config.file={self.dir / 'prometheus.yml'}"]
        prom += [f"--storage.tsdb.path={self.dir / 'prom-data'}"]
        prom += [f"--web.listen-address=127.0.0.1:{self.ports['prometheus']}"]
        self._spawn("prometheus", prom)
        self._wait_ready()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with (self.dir / f"{name}.log").open("ab") as log:
            self.procs[name] = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _wait_ready(self, timeout: float = 60.0) -> None:
        """Until Prometheus has scraped the soak's ``agentq serve`` once and Alertmanager
        answers: alerts from then on are the run's."""
        deadline = time.monotonic() + timeout
        am = f"http://127.0.0.1:{self.ports['alertmanager']}/-/ready"
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited: see {self.dir / (name + '.log')}")
            try:
                up = self.query('up{job="agentq"} == 1')
                if up and _get(am) is not None:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus did not scrape agentq serve within {timeout:.0f} s")

    def _prometheus_config(self) -> str:
        return json.dumps(  # JSON is YAML: no YAML library needed to write it
            {
                "global": {"scrape_interval": f"{STEP:g}s", "evaluation_interval": f"{STEP:g}s"},
                "rule_files": [str(self.dir / "alerts.yml")],
                "alerting": {
                    "alertmanagers": [
                        {
                            "static_configs": [
                                {"targets": [f"127.0.0.1:{self.ports['alertmanager']}"]}
                            ]
                        }
                    ]
                },
                "scrape_configs": [
                    {
                        "job_name": "agentq",
                        "static_configs": [{"targets": [f"127.0.0.1:{self.ports['serve']}"]}],
                    }
                ],
            }
        )

    def _alertmanager_config(self) -> str:
        assert self.receiver is not None
        url = f"http://127.0.0.1:{self.receiver.server_address[1]}/"
        route = {"receiver": "soak", "group_by": ["alertname"], "group_wait": "1s"}
        route |= {"group_interval": "1s", "repeat_interval": "1h"}
        receivers = [{"name": "soak", "webhook_configs": [{"url": url, "send_resolved": True}]}]
        return json.dumps({"route": route, "receivers": receivers})

    # --- reading --------------------------------------------------------------------
    def query(self, expr: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr})
        body = _get(f"{self.prometheus}/api/v1/query?{q}")
        return list(body["data"]["result"]) if body else []

    def firing_now(self) -> set[str]:
        """The alert names firing now (empty when Prometheus does not answer)."""
        try:
            rows = self.query('ALERTS{alertstate="firing"}')
        except OSError:
            return set()
        return {r["metric"].get("alertname", "?") for r in rows}

    def timeline(self, t0_wall: float) -> list[Firing]:
        """Every stretch of firing since ``t0_wall``, in seconds after it."""
        now = time.time()
        # A range query answers at most 11 000 points per series: a long soak needs a
        # coarser step than its evaluation interval.
        step = max(STEP, (now - t0_wall) / 10_000)
        q = {"query": 'ALERTS{alertstate="firing"}', "start": t0_wall, "end": now, "step": step}
        body = _get(f"{self.prometheus}/api/v1/query_range?{urllib.parse.urlencode(q)}")
        series = body["data"]["result"] if body else []
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
        got = self.receiver.delivered() if self.receiver else {}
        return {name: sorted(statuses) for name, statuses in sorted(got.items())}

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.procs = {}
        if self.receiver is not None:
            self.receiver.shutdown()
            self.receiver.server_close()
            self.receiver = None


def _get(url: str) -> dict[str, Any] | None:
    """The JSON body of a GET, None when the server answers with an error status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            raw = resp.read()
    except urllib.error.HTTPError:
        return None
    try:
        return dict(json.loads(raw)) if raw.strip().startswith(b"{") else {}
    except ValueError:
        return {}


def alert_names(rules_text: str) -> set[str]:
    """The ``alert:`` names of a rules file (its text: one rule per ``- alert: Name``)."""
    names = set()
    for line in rules_text.splitlines():
        head, _, rest = line.strip().lstrip("- ").partition(":")
        if head == "alert" and rest.strip():
            names.add(rest.strip().strip("\"'"))
    return names
