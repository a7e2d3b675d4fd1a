"""docker-compose.yml as an operator uses it, rendered by the real Compose binary
(``docker-compose config``; Docker itself does not run here): .env reaches every app
service, the optional services are profiles, Flower's entrypoint refuses to start without
FLOWER_BASIC_AUTH (and Flower started by it asks for the password), and the soketi
service takes the bridge's PUSHER_* (checked against a real soketi and Pusher client)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.servers import free_port
from tests.support.soketi import SOKETI, require_soketi
from tests.support.workers import ROOT, wait_for
from workers.realtime.payloads import Event
from workers.realtime.pusher_sink import PusherCallFailed

BIN = Path(sys.executable).parent
COMPOSE = shutil.which("docker-compose", path=f"{BIN}{os.pathsep}{os.environ['PATH']}")
APP_SERVICES = {"migrate", "worker", "beat", "health", "flower", "realtime"}
OPTIONAL = {"flower", "realtime", "soketi"}
MONITORING = {"prometheus", "alertmanager", "grafana"}

pytestmark = pytest.mark.skipif(
    COMPOSE is None and not os.environ.get("CI"), reason="docker-compose not installed"
)


@pytest.fixture
def project() -> Iterator[Path]:
    """A project directory: the repository's compose file and Dockerfile, no .env."""
    tmp = Path(tempfile.mkdtemp(prefix="agentq-compose-"))
    for name in ("docker-compose.yml", "Dockerfile", ".env.example"):
        shutil.copy2(ROOT / name, tmp / name)
    shutil.copytree(ROOT / "deploy", tmp / "deploy")
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def dotenv(project: Path, **changes: str) -> None:
    """``.env`` = ``.env.example`` with ``changes`` (NAME=value lines replaced or added)."""
    lines = (project / ".env.example").read_text().splitlines()
    out = []
    for line in lines:
        name = line.lstrip("# ").split("=", 1)[0]
        out.append(f"{name}={changes.pop(name)}" if name in changes and "=" in line else line)
    out += [f"{k}={v}" for k, v in changes.items()]
    (project / ".env").write_text("\n".join(out) + "\n")


def render(project: Path, **env: str) -> dict[str, Any]:
    """``docker-compose config`` as JSON, with only ``env`` in the environment."""
    assert COMPOSE is not None
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    out = subprocess.run(
        [COMPOSE, "config", "--format", "json"],
        cwd=project,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout)["services"])


def test_no_env_file_and_no_flower_auth_still_renders(project: Path) -> None:
    services = render(project)  # what `docker-compose run --rm migrate` needs
    assert set(services) == {"redis", "postgres", "migrate", "worker", "beat", "health"}
    migrate = services["migrate"]
    assert migrate["command"] == ["agentq", "migrate"]
    assert migrate["environment"]["DATABASE_URL"] == (
        "postgresql://postgres:postgres@postgres:5432/agent_workers"
    )
    assert set(render(project, COMPOSE_PROFILES="flower,realtime,soketi")) >= OPTIONAL
    assert set(render(project, COMPOSE_PROFILES="monitoring")) >= MONITORING


def test_monitoring_profile_mounts_the_deploy_files(project: Path) -> None:
    """Prometheus, Alertmanager and Grafana read the repository's deploy/ files (all of
    them exist), and Grafana's provisioning names the dashboard's
    folder and a Prometheus data source the dashboard's variable can pick."""
    services = render(project, COMPOSE_PROFILES="monitoring")
    assert set(services) >= MONITORING
    mounts = {
        name: {
            v["target"]: Path(v["source"]) for v in services[name]["volumes"] if v["type"] == "bind"
        }
        for name in MONITORING
    }
    prom, am, graf = mounts["prometheus"], mounts["alertmanager"], mounts["grafana"]
    assert prom["/etc/prometheus/prometheus.yml"] == project / "deploy/prometheus/prometheus.yml"
    assert prom["/etc/prometheus/alerts.yml"] == project / "deploy/prometheus/alerts.yml"
    assert am["/etc/alertmanager/alertmanager.yml"] == (
        project / "deploy/alertmanager/alertmanager.yml"
    )
    assert graf["/var/lib/grafana/dashboards/agentq.json"] == project / "deploy/grafana/agentq.json"
    provisioning = graf["/etc/grafana/provisioning"]
    assert provisioning == project / "deploy/grafana/provisioning"
    for name, binds in mounts.items():  # every file and folder it mounts is in the repository
        assert binds and all(source.exists() for source in binds.values()), (name, binds)
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    for name in ("prometheus", "alertmanager", "grafana"):  # never open on every interface
        assert all(p["host_ip"] == "127.0.0.1" for p in services[name]["ports"]), name
    # Grafana's provisioning: the dashboards folder it mounts, Prometheus at its service name.
    dashboards = (provisioning / "dashboards/agentq.yml").read_text()
    assert "path: /var/lib/grafana/dashboards" in dashboards
    datasource = (provisioning / "datasources/prometheus.yml").read_text()
    assert "type: prometheus" in datasource and "url: http://prometheus:9090" in datasource
    dashboard = json.loads((project / "deploy/grafana/agentq.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_every_setting_in_env_reaches_every_app_service(project: Path) -> None:
    dotenv(
        project,
        COMPOSE_PROFILES="flower,realtime,soketi",
        FLOWER_BASIC_AUTH="ops:secret",
        LOG_LEVEL="DEBUG",
        ENABLE_SUPABASE_INTEGRATION="true",
        SUPABASE_URL="https://x.supabase.co",
        SUPABASE_SERVICE_ROLE_KEY="service-key",
        PUSHER_APP_ID="42",
        AGENTQ_RECORDER_BATCH="250",
        DATABASE_URL="postgresql://app@db.example:5432/agents",
    )
    services = render(project)
    assert set(services) >= OPTIONAL
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["LOG_LEVEL"] == "DEBUG", name
        assert env["ENABLE_SUPABASE_INTEGRATION"] == "true", name
        assert env["SUPABASE_URL"] == "https://x.supabase.co", name
        assert env["PUSHER_APP_ID"] == "42", name
        assert env["AGENTQ_RECORDER_BATCH"] == "250", name
        assert env["DATABASE_URL"] == "postgresql://app@db.example:5432/agents", name
        assert env["AGENTQ_DATA_DIR"] == "/var/lib/agentq", name
        assert "-l" not in services[name].get("command", []), name  # LOG_LEVEL decides


def _flower_argv(service: dict[str, Any], port: int) -> list[str]:
    """The flower service's entrypoint + command as a shell would run them (Compose
    prints ``$`` as ``$$``), on a port of our own."""
    argv = [a.replace("$$", "$") for a in [*service["entrypoint"], *service["command"]]]
    return [*argv, "--address=127.0.0.1", f"--port={port}"]


def test_flower_entrypoint_refuses_without_auth(project: Path, redis_client: object) -> None:
    dotenv(project, COMPOSE_PROFILES="flower")  # FLOWER_BASIC_AUTH= as .env.example has it
    flower = render(project)["flower"]
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == ""
    # The test's broker and database instead of the compose services' host names.
    env = {**os.environ, "FLOWER_BASIC_AUTH": flower["environment"]["FLOWER_BASIC_AUTH"]}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["PYTHONPATH"] = str(ROOT)
    refused = subprocess.run(
        _flower_argv(flower, free_port()),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert "refusing to start without FLOWER_BASIC_AUTH" in refused.stderr

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="flower-compose-", suffix=".log")[1])
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            _flower_argv(flower, port),
            cwd=ROOT,
            env={**env, "FLOWER_BASIC_AUTH": "ops:secret"},
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/api/workers"

    def answers() -> int | None:
        assert proc.poll() is None, log.read_text()
        try:
            return requests.get(url, timeout=5).status_code
        except requests.ConnectionError:
            return None

    try:
        assert wait_for(answers, 60, 0.2, "flower to listen") == 401
        assert requests.get(url, auth=("ops", "secret"), timeout=10).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)


def test_soketi_service_takes_the_bridges_pusher_settings(project: Path) -> None:
    require_soketi()
    dotenv(
        project,
        COMPOSE_PROFILES="realtime,soketi",
        PUSHER_APP_ID="7",
        PUSHER_KEY="local-key",
        PUSHER_SECRET="local-secret",
        PUSHER_HOST="soketi",
        PUSHER_PORT="6001",
        PUSHER_SSL="false",
    )
    services = render(project)
    bridge, soketi = services["realtime"]["environment"], services["soketi"]["environment"]
    assert bridge["PUSHER_HOST"] == "soketi" and bridge["PUSHER_PORT"] == soketi["SOKETI_PORT"]

    # The real soketi with the service's environment, on ports of our own.
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOKETI_")}
    env.update(soketi, SOKETI_PORT=str(port), SOKETI_HOST="127.0.0.1")
    env.update(SOKETI_METRICS_SERVER_PORT=str(free_port()), SOKETI_CLUSTER_PORT=str(free_port()))
    workdir = tempfile.mkdtemp(prefix="agentq-soketi-compose-")
    proc = subprocess.Popen(
        [str(SOKETI), "start"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def sink(**change: str) -> Any:
            """The bridge's own Pusher client, from the realtime service's environment."""
            from workers.realtime.config import RealtimeConfig
            from workers.realtime.pusher_sink import PusherSink
            from workers.settings import load_settings

            env = {**bridge, "PUSHER_HOST": "127.0.0.1", "PUSHER_PORT": str(port), **change}
            with pytest.MonkeyPatch.context() as mp:
                for k, v in env.items():
                    mp.setenv(k, v)
                return PusherSink(RealtimeConfig.from_settings(load_settings()).pusher)

        event = [Event("agentq-test", "ping", "{}", ("agent_executions", "x"))]

        def sent() -> bool:
            assert proc.poll() is None, "soketi exited"
            try:
                sink().send(event)
                return True
            except PusherCallFailed:  # not listening yet (or refusing: then the wait fails)
                return False

        wait_for(sent, 60, 0.3, "soketi to take the bridge's events")
        with pytest.raises(PusherCallFailed, match="401"):
            sink(PUSHER_SECRET="not-the-secret").send(event)
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(workdir, ignore_errors=True)
