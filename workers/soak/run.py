"""``agentq soak``: build the fleet, run the load under overlapping faults, judge it.

The fleet: the soak's own PostgreSQL and Redis (AOF on) on the bridge, three worker
hosts in network namespaces (w1 also runs beat; w2's clock runs 5 s ahead), and a
producer namespace. The faults (``workers/soak/faults.py``) start at seeded times and
overlap; after the last one the soak waits for every task to reach its final state, then
compares each row with what its input dictates (``workers/soak/verify.py``).
Everything it started is stopped and removed at the end, also on failure or Ctrl-C.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import redis

from persistence.migration_service import MigrationService
from workers.soak import broker_loss, evidence, poison, reconciled
from workers.soak.alert_verdict import EXPECTED, Window
from workers.soak.faults import Fault, Schedule, hold, hold_until, kill_children, seeded_offsets
from workers.soak.fleet import WorkerHost, libfaketime, run_producers
from workers.soak.monitoring import Monitoring
from workers.soak.netns import BRIDGE_IP, Network, check_support
from workers.soak.plan import as_dict, pinned, plan
from workers.soak.servers import PostgresServer, RedisServer, free_port
from workers.soak.verify import Verdict, expected_outputs, unfinished, verify

HOSTS = ("w1", "w2", "w3")
# --alerts: a fault that must raise alerts stays on until they fire, at most this much longer.
ALERT_HOLD_CAP = 180.0
SKEWED, CUT, KILLED = "w2", "w3", "w2"


@dataclass
class SoakOptions:
    tasks: int = 10_000
    seed: int = 0
    scale: float = 1.0  # shortens every fault window and offset (a CI run)
    redis_kill: str | None = None  # None, "everysec" or "always"
    keep: bool = False
    producers: int = 3
    poison_messages: int = 300
    converge_timeout: float = 600.0
    alerts: bool = False  # Prometheus + Alertmanager beside the fleet, and their verdict


@dataclass
class Soak:
    opts: SoakOptions
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="agentq-soak-")))
    network: Network | None = None
    pg: PostgresServer | None = None
    redis: RedisServer | None = None
    hosts: dict[str, WorkerHost] = field(default_factory=dict)
    schedule: Schedule | None = None
    published: dict[str, tuple[str, int]] = field(default_factory=dict)
    planned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    jobs_by_id: dict[str, Any] = field(default_factory=dict)
    producer_failures: list[str] = field(default_factory=list)
    verdict: Verdict | None = None
    monitoring: Monitoring | None = None
    alerts: dict[str, Any] | None = None  # the alert verdict (--alerts)
    main_jobs: list[Any] = field(default_factory=list)  # the load's plan (broker_loss reads it)
    final_reconcile: reconciled.FinalCheck | None = None

    # --- building ------------------------------------------------------------------
    def build(self) -> None:
        check_support()
        libfaketime()  # the skewed host needs it: say so before building anything
        self.network = Network((*HOSTS, "prod")).build()
        self.pg = PostgresServer(port=free_port(BRIDGE_IP), host=BRIDGE_IP)
        self.pg.start()
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE agentq_soak")
        MigrationService(self.database_url).run_migrations()
        fsync = self.opts.redis_kill or "everysec"
        redis_dir = self.workdir / "redis"
        redis_dir.mkdir()
        args = ["--appendonly", "yes", "--appendfsync", fsync, "--dir", str(redis_dir)]
        self.redis = RedisServer(port=free_port(BRIDGE_IP), host=BRIDGE_IP, extra_args=args)
        self.redis.start()
        for name in HOSTS:
            host = WorkerHost(
                name,
                self.network,
                self.env,
                self.workdir,
                clock_ahead_s=5.0 if name == SKEWED else 0.0,
                beat=name == "w1",
            )
            self.hosts[name] = host
            host.start()
        for host in self.hosts.values():
            host.wait_ready()
        if self.opts.alerts:
            # Its agentq serve calls a worker stalled after 20 s without a progress report
            # (default 300 s): a killed or cut-off worker shows within a fault's hold. The
            # soak's tasks last seconds, so a live worker always reports sooner.
            serve_env = {**self.env, "AGENTQ_WORKER_STALL_SECONDS": "20"}
            self.monitoring = Monitoring(self.workdir, serve_env)
            self.monitoring.start()

    @property
    def database_url(self) -> str:
        assert self.pg is not None
        return self.pg.url.rsplit("/", 1)[0] + "/agentq_soak"

    @property
    def visibility_timeout(self) -> int:
        return max(10, int(20 * self.opts.scale))

    @property
    def env(self) -> dict[str, str]:
        assert self.redis is not None
        return {
            "CELERY_BROKER_URL": self.redis.url,
            "DATABASE_URL": self.database_url,
            "AGENTQ_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            "AGENTQ_RECORDER_CLAIM_IDLE_MS": "5000",
            "AGENTQ_HEARTBEAT_SECONDS": "2",
            "AGENTQ_MAX_MESSAGE_BYTES": "65536",
            "AGENTQ_METRICS_INTERVAL_SECONDS": "30",
            # beat runs the reconciler with repair on, often, with a grace of a few
            # visibility timeouts: what broker_loss deletes is published again in the run
            **reconciled.beat_env(self.visibility_timeout),
        }

    # --- the faults --------------------------------------------------------------------
    def faults(self, rng: random.Random) -> list[Fault]:
        s = self.opts.scale
        at = seeded_offsets(rng, s)
        out = [
            Fault("poison", at["poison"], 0, lambda f: self._poison(f, rng)),
            Fault("kill_child", at["kill_child"], 0, self._kill_child),
            Fault("partition", at["partition"], 30 * s, self._partition),
            Fault("kill_worker", at["kill_worker"], 5 * s, self._kill_worker),
            Fault("postgres_down", at["postgres_down"], 60 * s, self._postgres_down),
            Fault("clock_skew", 0, 0, self._clock_skew),
            Fault("broker_loss", at["broker_loss"], 0, self._broker_loss),
        ]
        kind = "redis_kill" if self.opts.redis_kill else "redis_restart"
        out.append(Fault(kind, at["redis_restart"], 3 * s, self._redis_restart))
        return out

    def _poison(self, fault: Fault, rng: random.Random) -> None:
        assert self.redis is not None
        client = redis.Redis.from_url(self.redis.url)
        msgs = poison.messages(self.opts.poison_messages, rng, oversize=256 * 1024)
        entries = poison.stream_entries(max(8, self.opts.poison_messages // 10))
        pipe = client.pipeline(transaction=False)
        for queue, raw in msgs:
            pipe.lpush(queue, raw)
        for entry in entries:
            pipe.xadd("agentq:events", {"e": entry})
        pipe.execute()
        fault.evidence.update(messages=len(msgs), stream_entries=len(entries))

    def _broker_loss(self, fault: Fault) -> None:
        assert self.redis is not None and self.schedule is not None
        # its own generator: the poison's thread draws from the run's at the same time
        rng = random.Random(f"{self.opts.seed}-broker_loss")
        stop = self.schedule.stop
        fault.evidence.update(
            broker_loss.inject(
                redis.Redis.from_url(self.redis.url),
                self._published_kinds,
                broker_loss.seeded_count(rng, self.opts.scale),
                rng,
                time.time,
                stop.wait,
            )
        )

    def _published_kinds(self) -> dict[str, str]:
        """Task id -> plan kind of the load's jobs the producers have published so far
        (each writes ``index task_id`` as it goes)."""
        out: dict[str, str] = {}
        for path in (self.workdir / "main").glob("published-*.txt"):
            for line in path.read_text().splitlines():
                index, _, task_id = line.partition(" ")
                if index.isdigit() and int(index) < len(self.main_jobs):
                    out[task_id] = self.main_jobs[int(index)].kind
        return out

    def _pin(self, host: str, n: int, seconds: float) -> list[str]:
        """Publish ``n`` slow jobs only ``host`` reads and wait until they all run there."""
        jobs = pinned(n, seconds, self.hosts[host].own_queue)
        with self._lock:
            self.planned += len(jobs)
        ids = list(self._publish(jobs, f"pinned-{host}", 1))
        deadline = time.monotonic() + 60
        while not self.hosts[host].started(ids):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the jobs pinned to {host} did not start within 60 s")
            time.sleep(0.1)
        return ids

    def _kill_child(self, fault: Fault) -> None:
        fault.pinned = self._pin("w1", 2, seconds=max(3.0, 10 * self.opts.scale))
        fault.evidence["children_killed"] = kill_children(self.hosts["w1"].pool_children())

    def _partition(self, fault: Fault) -> None:
        assert self.network is not None and self.schedule is not None
        # Long enough for the visibility timeout to pass and a worker to look (every 10 s):
        # the cut host's tasks must come back to the others while it is away.
        fault.duration = max(fault.duration, self.visibility_timeout + 15)
        fault.pinned = self._pin(CUT, 2, seconds=fault.duration / 3)
        fault.evidence["host"] = self.hosts[CUT].hostname
        cut_at = time.monotonic()
        self.network.cut(CUT)
        try:
            self._hold(fault)
        finally:
            self.network.heal(CUT)
        fault.evidence["link_down_seconds"] = round(time.monotonic() - cut_at, 1)

    def _kill_worker(self, fault: Fault) -> None:
        assert self.schedule is not None
        host = self.hosts[KILLED]
        host.kill()
        fault.evidence["killed"] = 1
        self._hold(fault)
        host.start()
        host.wait_ready()
        fault.evidence["restarted"] = 1

    def _postgres_down(self, fault: Fault) -> None:
        assert self.pg is not None and self.schedule is not None
        self.pg.stop("fast")
        try:
            self._hold(fault)
        finally:
            self.pg.start()
        fault.evidence["down_seconds"] = round(time.monotonic() - (fault.start or 0), 1)

    def _hold(self, fault: Fault) -> None:
        """The fault's duration; with --alerts, then until each of its alert groups has
        an alert firing and delivered (a rule's ``for:`` must pass while it lasts)."""
        assert self.schedule is not None
        hold(fault, self.schedule.stop)
        if self.monitoring is not None and fault.kind in EXPECTED:
            mon, groups = self.monitoring, EXPECTED[fault.kind]
            fault.evidence["held_for_alerts_seconds"] = hold_until(
                self.schedule.stop,
                lambda: all(set(g) & mon.raised() for g in groups),
                ALERT_HOLD_CAP,
            )

    def _redis_restart(self, fault: Fault) -> None:
        assert self.redis is not None and self.schedule is not None
        before = redis.Redis.from_url(self.redis.url).xlen("agentq:events")
        if self.opts.redis_kill:
            self.redis.kill()
        else:
            self.redis.stop()
        hold(fault, self.schedule.stop)
        self.redis.start()
        after = redis.Redis.from_url(self.redis.url).xlen("agentq:events")
        fault.evidence.update(restarts=1, stream_before=before, stream_after_restart=after)

    def _clock_skew(self, fault: Fault) -> None:
        fault.evidence["seconds_ahead"] = 5

    # --- the run -----------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        rng = random.Random(self.opts.seed)
        jobs = plan(self.opts.tasks, self.opts.seed)
        self.planned = len(jobs)
        assert self.network is not None
        self.schedule = Schedule(self.faults(rng))
        # Revoked jobs first, before any fault: Celery keeps revokes in the workers'
        # memory, so a worker cut off or restarted later would never learn of them.
        revoked = [j for j in jobs if j.kind == "revoked"]
        self._converge(list(self._publish(revoked, "revoked", 1)), time.monotonic())
        t0 = (time.time(), time.monotonic())
        self.schedule.begin(t0[1])
        rest = self.main_jobs = [j for j in jobs if j.kind != "revoked"]
        self._publish(rest, "main", self.opts.producers)
        published_at = time.monotonic()
        self.schedule.join(timeout=300 * max(self.opts.scale, 0.2) + 120)
        last_fault = self.schedule.last_end()
        with self._lock:
            ids = list(self.published)
        converged = self._converge(ids, last_fault)
        verdict = self.verdict = verify(
            self.database_url, self.published, f"{SKEWED}@soak", expected_outputs(self.jobs_by_id)
        )
        self._evidence(verdict)
        # the converged fleet: the record and the broker must agree (no repair here)
        self.final_reconcile = reconciled.final_check(
            self.env, reconciled.grace(self.visibility_timeout)
        )
        if self.monitoring is not None:
            windows = [
                Window(f.kind, f.start - t0[1], f.end - t0[1])
                for f in self.schedule.faults
                if f.start is not None and f.end is not None
            ]
            alerts, detail = self.monitoring.verdict(windows, t0[0])
            self.alerts = alerts.as_dict() | detail
        from workers.soak.report import summary

        return summary(self, verdict, t0, published_at, last_fault, converged)

    def _publish(self, jobs: list[Any], phase: str, producers: int) -> dict[str, tuple[str, int]]:
        """Publish ``jobs`` from ``producers`` processes in the producer namespace."""
        assert self.network is not None
        plan_file = self.workdir / f"plan-{phase}.jsonl"
        plan_file.write_text("".join(json.dumps(as_dict(j)) + "\n" for j in jobs))
        procs = run_producers(
            self.network, "prod", self.env, plan_file, self.workdir / phase, producers
        )
        for i, (proc, _) in enumerate(procs):
            # A producer that gave up on some jobs says so; the run then fails (its load
            # was not what the plan said), and the log shows why.
            if proc.wait(timeout=self.opts.converge_timeout) != 0:
                self.producer_failures.append(str(self.workdir / phase / f"producer-{i}.log"))
        return self._published(jobs, [out for _, out in procs])

    def _published(self, jobs: list[Any], outs: list[Path]) -> dict[str, tuple[str, int]]:
        """What the producers wrote they published; added to the run's (faults publish
        their pinned jobs from their own threads)."""
        published: dict[str, tuple[str, int]] = {}
        for out in outs:
            for line in out.read_text().splitlines():
                index, task_id = line.split()
                published[task_id] = jobs[int(index)].expected
                with self._lock:
                    self.jobs_by_id[task_id] = jobs[int(index)]
        with self._lock:
            self.published.update(published)
        return published

    def _converge(self, ids: list[str], since: float) -> float | None:
        """Seconds from the end of the last fault (``since``, monotonic) until every task
        is final; None when the deadline passes first (those tasks count as lost)."""
        deadline = time.monotonic() + self.opts.converge_timeout
        while time.monotonic() < deadline:
            try:
                if unfinished(self.database_url, ids) == 0:
                    return round(time.monotonic() - since, 1)
            except psycopg.Error:
                pass
            time.sleep(1.0)
        return None

    def _evidence(self, verdict: Verdict) -> None:
        """Evidence that shows only in the logs and the databases once the run is over."""
        assert self.schedule is not None and self.redis is not None
        logs = "".join(h.log.read_text(errors="replace") for h in self.hosts.values())
        evidence.gather(
            {f.kind: f for f in self.schedule.faults},
            evidence.Sources(self.redis.url, self.database_url, logs, len(self.hosts)),
            verdict,
            f"{SKEWED}@soak",
        )

    # --- teardown ------------------------------------------------------------------------
    def teardown(self) -> None:
        """Stop and remove everything started; a second call finds nothing left to do."""
        if self.schedule is not None:
            self.schedule.stop.set()
        if self.monitoring is not None:
            self.monitoring.stop()
            self.monitoring = None
        for host in self.hosts.values():
            host.stop(timeout=20)
        self.hosts = {}
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
        if self.pg is not None and not self.opts.keep:
            self.pg.destroy()
        elif self.pg is not None:
            self.pg.stop("fast")
        self.pg = None
        if self.network is not None:
            self.network.teardown()
            self.network = None
        if not self.opts.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
