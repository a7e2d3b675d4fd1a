"""``agentq soak``: three worker hosts in network namespaces under overlapping faults,
and a verdict on every task (``workers/soak/``). Root only.

Exit codes: 0 nothing lost, nothing wrong, no duplicate, every fault injected, every
message broker_loss deleted repaired and a final reconcile finding no discrepancy; 1 not
root or no network namespaces (nothing is left behind), or the verdict failed; 130
interrupted (everything started is stopped and removed).
"""

from __future__ import annotations

import random
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from workers.cli import common


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option("--tasks", type=click.IntRange(min=50), default=10_000, show_default=True)
@click.option("--seed", type=int, help="Replay a run exactly (default: random, printed).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="One JSON line per task."
)
@click.option("--keep", is_flag=True, help="Leave the database and logs in a directory it prints.")
@click.option(
    "--redis-kill",
    type=click.Choice(["everysec", "always"]),
    help="SIGKILL Redis (AOF with this appendfsync) instead of restarting it gracefully.",
)
@click.option(
    "--fault-scale",
    type=click.FloatRange(min=0.1, max=1.0),
    default=1.0,
    show_default=True,
    help="Shorten every fault window (CI runs 0.3).",
)
@click.option(
    "--alerts",
    is_flag=True,
    help="Run Prometheus and Alertmanager beside the fleet; each fault must raise its alerts.",
)
def soak(
    tasks: int,
    seed: int | None,
    as_json: bool,
    report: Path | None,
    keep: bool,
    redis_kill: str | None,
    fault_scale: float,
    alerts: bool,
) -> None:
    """Run the fleet under overlapping faults and check every task's final state."""
    from workers.soak.netns import NetnsUnavailable, check_support
    from workers.soak.report import write_lines
    from workers.soak.run import Soak, SoakOptions

    try:
        check_support()
    except NetnsUnavailable as exc:
        common.fail(str(exc), common.EXIT_INVALID)
    seed = random.SystemRandom().randrange(1 << 31) if seed is None else seed
    common.err_console.print(f"agentq soak: {tasks} tasks, seed {seed}", highlight=False)
    opts = SoakOptions(
        tasks=tasks, seed=seed, scale=fault_scale, redis_kill=redis_kill, keep=keep, alerts=alerts
    )
    run = Soak(opts)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            run.build()
        except RuntimeError as exc:  # a server or worker that would not start, no libfaketime
            common.fail(f"the soak's fleet could not be built: {exc}")
        result = run.run()
        if report is not None and run.verdict is not None:
            write_lines(report, run, run.verdict, run.published)
    except KeyboardInterrupt:
        run.teardown()  # before the exit: the finally's second call finds nothing left
        sys.exit(common.EXIT_INTERRUPTED)
    finally:
        run.teardown()
    if keep:
        common.err_console.print(f"kept: {run.workdir}", highlight=False)
    if as_json:
        common.print_json(result)
    else:
        _print(result)
    sys.exit(0 if result["passed"] else common.EXIT_INVALID)


def _print(r: dict[str, Any]) -> None:
    from rich.table import Table

    verdict = "[bold green]passed[/]" if r["passed"] else "[bold red]FAILED[/]"
    common.console.print(f"soak {verdict}  (seed {r['seed']})", highlight=False)
    table = Table("", "value", box=None)
    rows = [
        ("tasks enqueued / planned", f"{r['tasks']} / {r['planned']}"),
        ("expected / found", f"{r['expected']} / {r['found']}"),
        ("lost", r["lost"]),
        ("wrong", r["wrong"]),
        ("duplicate history events", r["duplicates"]),
        ("redelivered tasks", r["redelivered"]),
        ("spool entries replayed", r["spool_replayed"]),
        ("dead letters", r["dead_letters"]),
        ("dead-letter reasons", r["dead_letter_reasons"]),
        ("poison not in the dead letters", r["poison_unaccounted"]),
        (
            "recording lag p50 / p99 / max (s)",
            f"{r['lag_p50_seconds']} / {r['lag_p99_seconds']} / {r['lag_max_seconds']}",
        ),
        ("converged after the last fault (s)", r["converged_seconds"]),
        (
            "throughput calm / in faults (tasks/s)",
            f"{r['throughput_calm_per_s']} / {r['throughput_faults_per_s']}",
        ),
        ("tasks the reconciler repaired", r["reconciler_repaired"]),
        ("deleted by broker_loss, not repaired", len(r["broker_loss_unrepaired"])),
        ("repaired but never lost", len(r.get("repaired_not_lost") or [])),
        ("final reconcile", _final_reconcile(r["final_reconcile"])),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    common.console.print(table)
    faults = Table("fault", "start", "end", "evidence", box=None)
    for f in r["faults"]:
        # the deleted task ids are in --json; the table says how many
        shown = {k: v for k, v in f["evidence"].items() if k != "task_ids"}
        faults.add_row(f["kind"], str(f["start"]), str(f["end"]), str(f.get("error") or shown))
    common.console.print(faults)
    for log in r["producer_failures"]:
        common.console.print(f"a producer gave up on some jobs: {log}", highlight=False)
    for problem in r["reconcile_problems"]:
        common.console.print(f"reconciler: {problem}", highlight=False)
    if r["faults_not_injected"]:
        common.console.print(f"faults not injected: {r['faults_not_injected']}", highlight=False)
    if r.get("alerts"):
        _print_alerts(r["alerts"])
    for kind in ("lost", "wrong"):
        for example in r["examples"][kind]:
            common.console.print(f"  {kind}: {example}", highlight=False)


def _final_reconcile(final: dict[str, Any] | None) -> str:
    if final is None:
        return "not run"
    if final.get("error"):
        return f"failed: {final['error']}"
    found = final["discrepancies"]
    return "no discrepancy" if not found else ", ".join(f"{k} {n}" for k, n in found.items())


def _print_alerts(a: dict[str, Any]) -> None:
    verdict = "[green]passed[/]" if a["passed"] else "[red]FAILED[/]"
    common.console.print(f"alerts {verdict}", highlight=False)
    for kind, names in a["raised"].items():
        common.console.print(f"  {kind} raised {', '.join(names)}", highlight=False)
    for key in ("missing", "no_rule", "still_firing", "lingering"):
        for line in a[key]:
            common.console.print(f"  {key}: {line}", highlight=False)
