"""``agentq serve``: the health, metrics and API HTTP server (``workers/serve/server.py``).

Registered on the ``agentq`` group by ``workers/cli/__init__.py``; runnable on its own as
``python -m workers.cli.serve``. Exit codes: 0 after SIGINT / SIGTERM, 1 invalid
settings or the address cannot be bound.
"""

from __future__ import annotations

import signal
from types import FrameType

import click

from workers.cli import common


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


@click.command()
@click.option("--host", help="Address to bind (default AGENTQ_SERVE_HOST, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="Port (default AGENTQ_SERVE_PORT, 8088)."
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    help="Log level (default: LOG_LEVEL, else info).",
)
def serve(host: str | None, port: int | None, log_level: str | None) -> None:
    """Serve /healthz, /api/v1/health/supabase, Prometheus /metrics, the live operations
    page at / (docs/page.md) and its API (/api/v1/..., POST /pusher/auth; docs/api.md)
    over HTTP.

    Health endpoints answer 200 when healthy or degraded and 503 when unhealthy.
    """
    from workers.logs import say, setup_cli_logging
    from workers.serve.server import serve as build

    setup_cli_logging(log_level, default="INFO")  # a server: INFO unless told otherwise
    settings = common.load_settings()
    try:
        server = build(settings, host, port)
    except OSError as exc:
        where = f"{host or settings.serve_host}:{settings.serve_port if port is None else port}"
        common.fail(f"cannot listen on {where}: {exc.strerror or exc}")
    bound_host, bound_port = server.server_address[:2]
    listening = f"agentq serve: listening on http://{bound_host!s}:{bound_port}"
    if not say(listening):
        click.echo(listening, err=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    serve()
