"""``agentq up`` / ``agentq down``: the embedded PostgreSQL and Redis in the background.

``up`` starts them (and, with ``--worker`` / ``--beat`` / ``--page``, a worker, beat and
``agentq serve``), migrates, records them in the state directory (``AGENTQ_STATE_DIR``,
default ``<data dir>/embedded``; ``workers/local/state.py``) and prints the settings to
export. Every ``agentq`` command run with ``DATABASE_URL`` / ``CELERY_BROKER_URL`` unset
then uses them. Run again, ``up`` starts only what is missing. ``down`` stops exactly what
was recorded (pid and start time checked), clients first.

Exit codes are ``agentq``'s: 0 done (or already so), 4 something did not start (the message
names its log).
"""

from __future__ import annotations

import click

from workers.cli import common


@click.command()
@click.option("--worker", is_flag=True, help="Also run a Celery worker (all agent queues).")
@click.option("--beat", is_flag=True, help="Also run celery beat (metrics, health, outbox).")
@click.option(
    "--page",
    "page_port",
    type=click.IntRange(1, 65535),
    is_flag=False,
    flag_value=8088,
    default=None,
    help="Also run agentq serve on 127.0.0.1:PORT (default 8088); prints the page's URL"
    " with a token.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def up(worker: bool, beat: bool, page_port: int | None, as_json: bool) -> None:
    """Start the embedded PostgreSQL and Redis in the background (idempotent)."""
    from workers.demo.embedded import EmbeddedUnavailable
    from workers.local.run import UpError, bring_up, page_url
    from workers.local.state import State

    state = State.load()
    say = common.err_console.print if as_json else common.console.print
    try:
        started = bring_up(state, worker=worker, beat=beat, page_port=page_port, say=say)
    except (EmbeddedUnavailable, UpError) as exc:
        common.fail(str(exc), common.EXIT_UNAVAILABLE)
    running = state.running()
    url = page_url(state) if "serve" in running else None
    if as_json:
        procs = {k: {"pid": p.pid, "log": p.log} for k, p in running.items()}
        common.print_json(
            {
                "state_dir": str(state.root),
                "database_url": state.database_url,
                "broker_url": state.broker_url,
                "started": started,
                "running": procs,
                "page_url": url,
            }
        )
        return
    already = [k for k in running if k not in started]
    if started:
        say(f"started: {', '.join(started)}", highlight=False)
    if already:
        say(f"already up: {', '.join(already)}", highlight=False)
    say(f"state: {state.root}   (agentq down stops them)", highlight=False)
    if url:
        say(f"live page: {url}", highlight=False, soft_wrap=True)
    say(
        "agentq commands use these servers while DATABASE_URL / CELERY_BROKER_URL are unset;"
        " for other programs (celery, psql, your app):",
        highlight=False,
    )
    for line in state.exports():
        click.echo(line)


@click.command()
def down() -> None:
    """Stop what agentq up (or agentq demo --keep) left running."""
    from workers.local.run import bring_down
    from workers.local.state import State

    state = State.load()
    if not state.procs:
        common.console.print(f"nothing is up (state dir {state.root})", highlight=False)
        return
    gone = state.gone()
    stopped = bring_down(state, say=lambda m: common.console.print(m, highlight=False))
    if gone:
        common.console.print(f"already gone: {', '.join(gone)}", highlight=False)
    if not stopped:
        common.console.print("nothing was running; state forgotten", highlight=False)
