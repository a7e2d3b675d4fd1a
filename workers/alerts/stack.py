"""Throwaway Prometheus and Alertmanager (Debian's ``prometheus`` and
``prometheus-alertmanager``) on free ports with their own data directories, for the
alert tests and ``agentq soak --alerts``: Prometheus scrapes ``agentq serve`` with the
fleet's rules (``for:`` scaled, :mod:`workers.alerts.render`) and sends to Alertmanager,
which delivers every alert to one webhook.

Configuration is written as JSON, which is YAML, so nothing here needs a YAML library.
Each process runs in a session of its own and ``stop()`` ends it (SIGTERM, then SIGKILL)
and removes its directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from workers.alerts.render import render
from workers.soak.servers import free_port


def _binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"{names[0]} not found (apt-get install prometheus prometheus-alertmanager)")


class _Process:
    """A server process with a directory of its own and an HTTP readiness check."""

    name = "server"

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port(host)
        self.dir = Path(tempfile.mkdtemp(prefix=f"agentq-{self.name}-"))
        self.log = self.dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 60.0) -> _Process:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} not ready after {timeout} s")
            time.sleep(0.2)

    def get(self, path: str, **params: str) -> Any:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            return json.loads(resp.read())

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Alertmanager(_Process):
    """Routes every alert to ``webhook_url`` at once (1 s group wait and interval),
    resolved ones too; clustering off."""

    name = "alertmanager"

    def __init__(self, webhook_url: str, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        webhook = {"url": webhook_url, "send_resolved": True}
        config = {
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{"name": "webhook", "webhook_configs": [webhook]}],
        }
        self.config = self.dir / "alertmanager.yml"
        self.config.write_text(json.dumps(config, indent=2))

    def args(self) -> list[str]:
        return [
            _binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={self.config}",
            f"--storage.path={self.dir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            "--cluster.listen-address=",  # no gossip port: one throwaway instance
        ]


class Prometheus(_Process):
    """Scrapes ``targets`` as job ``agentq`` every ``scrape_interval``, evaluates the
    fleet's rules with ``for:`` scaled by ``for_scale`` every ``evaluation_interval``
    and sends to ``alertmanager`` (host:port)."""

    name = "prometheus"

    def __init__(
        self,
        targets: list[str],
        alertmanager: str,
        *,
        for_scale: float,
        scrape_interval: str = "2s",
        evaluation_interval: str = "1s",
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(host)
        rules = self.dir / "alerts.yml"
        rules.write_text(render(for_scale))
        config = {
            "global": {
                "scrape_interval": scrape_interval,
                "scrape_timeout": scrape_interval,
                "evaluation_interval": evaluation_interval,
            },
            "rule_files": [str(rules)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
            "scrape_configs": [{"job_name": "agentq", "static_configs": [{"targets": targets}]}],
        }
        self.config = self.dir / "prometheus.yml"
        self.config.write_text(json.dumps(config, indent=2))

    def args(self) -> list[str]:
        return [
            _binary("prometheus"),
            f"--config.file={self.config}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address={self.host}:{self.port}",
            # Resend firing alerts every second (default 1m): a short test sees them soon.
            "--rules.alert.resend-delay=1s",
        ]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of ``expr`` now (``[]`` when empty)."""
        body = self.get("/api/v1/query", query=expr)
        return list(body["data"]["result"])

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts as Prometheus sees them."""
        return list(self.get("/api/v1/alerts")["data"]["alerts"])
