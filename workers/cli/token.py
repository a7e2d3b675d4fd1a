"""``agentq token``: a JWT signed with ``SUPABASE_JWT_SECRET``, for development.

It lets a developer call the API of ``agentq serve`` (``Authorization: Bearer …``) and
sign into the operations page without a Supabase project. In production the tokens
are Supabase Auth's own. Exit codes: 0 printed, 1 no secret / bad settings, 2 usage.

Registered on the ``agentq`` group by ``workers/cli/__init__.py``; runnable on its own as
``python -m workers.cli.token``.
"""

from __future__ import annotations

import click

from workers.cli import common


@click.command()
@click.option(
    "--role",
    type=click.Choice(["authenticated", "service_role", "anon"]),
    default="authenticated",
    show_default=True,
    help="The token's role claim (anon tokens are refused by the API: for testing that).",
)
@click.option("--sub", help="The user the token speaks for (required for authenticated).")
@click.option(
    "--ttl",
    type=click.IntRange(1, 30 * 86_400),
    default=3600,
    show_default=True,
    help="Seconds until it expires (at most AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS, which"
    " agentq serve enforces).",
)
def token(role: str, sub: str | None, ttl: int) -> None:
    """Print a JWT signed with SUPABASE_JWT_SECRET (development only)."""
    from workers.serve.auth import make_token

    if role == "authenticated" and not sub:
        raise click.UsageError("--sub is required with --role authenticated")
    settings = common.load_settings(embedded=False)
    if settings.supabase_jwt_secret is None:
        common.fail("SUPABASE_JWT_SECRET is not set: there is nothing to sign with")
    if ttl > settings.api_max_token_lifetime_seconds:
        common.fail(
            f"--ttl {ttl} is longer than AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS"
            f" ({settings.api_max_token_lifetime_seconds}): agentq serve would refuse the token"
        )
    common.err_console.print(
        f"development token: role {role}, sub {sub or 'none'}, expires in {ttl} s "
        "(signed with SUPABASE_JWT_SECRET; use Supabase Auth's tokens in production)",
        highlight=False,
    )
    click.echo(make_token(settings, role, sub, ttl))


if __name__ == "__main__":
    token()
