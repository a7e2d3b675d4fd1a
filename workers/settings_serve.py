"""The settings of ``agentq serve`` (``AGENTQ_SERVE_*``, ``AGENTQ_API_*``) and the check
of ``SUPABASE_JWT_SECRET``, which verifies its tokens.

A base of :class:`workers.settings.Settings` (kept apart like ``settings_realtime``);
read them through ``get_settings()`` like every other setting.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

# HS256 signs with the secret as the HMAC key: RFC 7518 §3.2 asks for a key of at least
# the hash's size (32 bytes); a shorter one can be brute-forced from any token it signed.
MIN_JWT_SECRET_BYTES = 32


class ServeSettings(BaseSettings):
    """Where ``agentq serve`` listens, how long it waits for a client, how many it serves
    at once, and which tokens its API accepts."""

    serve_host: str = Field("127.0.0.1", min_length=1, validation_alias="AGENTQ_SERVE_HOST")
    serve_port: int = Field(8088, ge=0, le=65535, validation_alias="AGENTQ_SERVE_PORT")
    # Where the page's pusher-js comes from (workers/serve/page.py); unset: ./node_modules,
    # then the project's.
    node_modules: Path | None = Field(None, validation_alias="AGENTQ_NODE_MODULES")
    # A connection that sends nothing for this long (request line, headers or body) is
    # closed: a client that stops mid-request holds its thread that long, not forever.
    serve_read_timeout_seconds: float = Field(
        10, gt=0, le=3600, validation_alias="AGENTQ_SERVE_READ_TIMEOUT_SECONDS"
    )
    # The whole request (line, headers, body) must arrive within this: a client that
    # trickles a byte now and then is cut off too.
    serve_request_timeout_seconds: float = Field(
        30, gt=0, le=3600, validation_alias="AGENTQ_SERVE_REQUEST_TIMEOUT_SECONDS"
    )
    # Connections served at once (one thread each); more are answered 503 at once.
    serve_max_connections: int = Field(
        32, ge=1, le=10_000, validation_alias="AGENTQ_SERVE_MAX_CONNECTIONS"
    )
    # The longest lifetime (exp - iat, or exp - now without iat) of a token the API takes:
    # a leaked token is good for at most this long.
    api_max_token_lifetime_seconds: int = Field(
        86_400, ge=1, validation_alias="AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS"
    )
    supabase_jwt_secret: SecretStr | None = Field(None, validation_alias="SUPABASE_JWT_SECRET")

    @field_validator("supabase_jwt_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        size = 0 if value is None else len(value.get_secret_value().encode())
        if value is not None and size < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"is too short ({size} bytes): an HS256 secret must be at least"
                f" {MIN_JWT_SECRET_BYTES} bytes (Supabase's JWT secret is; for development:"
                " openssl rand -hex 32)"
            )
        return value
