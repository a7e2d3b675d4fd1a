"""Who may read the API: Supabase JWTs (HS256, ``SUPABASE_JWT_SECRET``), and the Pusher
signature of a private user channel for ``POST /pusher/auth``.

A request carries ``Authorization: Bearer <jwt>``. The token must be signed with the
project's JWT secret (HS256 only: no "none", no algorithm chosen by the token), carry an
``exp`` in the future at most ``AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS`` after its ``iat``
(after now without one: a token good until year 9999 is a leaked key forever), and a
``role`` claim that is the string ``authenticated`` or ``service_role``. Anything else is
:class:`AuthError` 401 with a message saying which of these failed; a claim of the wrong
type (a list for a role) is refused like a wrong value, never an error of the server. Without
``SUPABASE_JWT_SECRET`` nothing can be verified: 503, saying the secret is not configured
(the server is not set up, the caller did nothing wrong).

The ``aud`` claim is not checked: Supabase's user tokens say ``authenticated`` and its
service-role key has none; the role claim is what decides.

A Pusher private channel is signed only for its owner: ``private-<prefix>-user-<sub>``
with ``sub`` the token's subject; any other channel is 403. The signature itself is the
``pusher`` library's ``authenticate`` (HMAC-SHA256 of ``socket_id:channel`` with the app
secret); without ``PUSHER_KEY`` / ``PUSHER_SECRET`` it is 503.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from workers.realtime.channels import private_user_channel
from workers.settings import Settings

ALGORITHM = "HS256"
ALLOWED_ROLES = frozenset({"authenticated", "service_role"})
SECRET_MISSING = "SUPABASE_JWT_SECRET is not configured: this server cannot verify tokens"


class AuthError(Exception):
    """A refused request: ``status`` (401, 403, 503) and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Identity:
    """A verified token: its subject (None for a service-role key) and role."""

    sub: str | None
    role: str


def _secret(settings: Settings) -> str:
    secret = getattr(settings, "supabase_jwt_secret", None)
    if secret is None or not secret.get_secret_value():
        raise AuthError(503, SECRET_MISSING)
    return str(secret.get_secret_value())


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; 401 if there is none."""
    if not authorization:
        raise AuthError(401, "missing Authorization header: send 'Authorization: Bearer <JWT>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError(401, "Authorization header is not 'Bearer <JWT>'")
    return token.strip()


def verify(settings: Settings, authorization: str | None) -> Identity:
    """The identity of a request's ``Authorization`` header, or :class:`AuthError`."""
    secret = _secret(settings)
    token = bearer_token(authorization)
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(401, "token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError(
            401, "token signature invalid (not signed with this project's secret)"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(401, f"token has no '{exc.claim}' claim") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(401, f"token is not signed with {ALGORITHM}") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(401, f"token invalid: {exc}") from None
    _check_lifetime(settings, claims)
    role = claims.get("role")
    if not isinstance(role, str) or role not in ALLOWED_ROLES:  # a list is not hashable
        shown = "none" if role is None else repr(role)[:80]
        raise AuthError(
            401, f"token role {shown} may not read this (needs authenticated or service_role)"
        )
    sub = claims.get("sub")
    if role == "authenticated" and not (isinstance(sub, str) and sub):
        raise AuthError(401, "token has no 'sub' claim (the user it speaks for)")
    return Identity(sub=sub if isinstance(sub, str) else None, role=str(role))


def _check_lifetime(settings: Settings, claims: dict[str, Any]) -> None:
    """401 when the token lives longer than the setting allows (PyJWT has checked that
    ``exp`` and any ``iat`` are numbers)."""
    limit = int(getattr(settings, "api_max_token_lifetime_seconds", 86_400))
    iat = claims.get("iat")
    start = iat if isinstance(iat, int | float) else datetime.now(UTC).timestamp()
    try:
        lifetime = float(claims["exp"]) - float(start)
    except OverflowError:  # an exp (or iat) of hundreds of digits
        lifetime = math.inf
    if lifetime > limit:
        since = "its iat" if isinstance(iat, int | float) else "now"
        raise AuthError(
            401,
            f"token lifetime too long: exp is {lifetime:.0f} s after {since}, more than"
            f" the {limit} s this server accepts (AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS)",
        )


def make_token(settings: Settings, role: str, sub: str | None, ttl_s: int) -> str:
    """A token signed with ``SUPABASE_JWT_SECRET`` (for development: ``agentq token``)."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "role": role,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "iss": "agentq-dev",
    }
    if role == "authenticated":
        claims["aud"] = "authenticated"  # as Supabase's own user tokens
    if sub:
        claims["sub"] = sub
    return jwt.encode(claims, _secret(settings), algorithm=ALGORITHM)


def pusher_authorize(
    settings: Settings, identity: Identity, socket_id: str | None, channel: str | None
) -> dict[str, Any]:
    """Pusher's ``{"auth": "<key>:<signature>"}`` for ``channel`` on ``socket_id``, only
    when the channel is the caller's own private user channel."""
    import pusher

    if not socket_id:
        raise AuthError(400, "socket_id is missing")
    if not channel:
        raise AuthError(400, "channel_name is missing")
    prefix = settings.realtime_channel_prefix
    own = private_user_channel(prefix, identity.sub) if identity.sub else None
    if own is None or channel != own:
        raise AuthError(
            403,
            f"channel {channel!r} is not yours: you may subscribe to "
            + (repr(own) if own else "no private user channel (the token has no usable 'sub')"),
        )
    if not (settings.pusher_app_id and settings.pusher_key and settings.pusher_secret):
        raise AuthError(503, "Pusher is not configured (PUSHER_APP_ID, PUSHER_KEY, PUSHER_SECRET)")
    client = pusher.Pusher(
        app_id=settings.pusher_app_id,
        key=settings.pusher_key,
        secret=settings.pusher_secret.get_secret_value(),
    )
    try:
        return dict(client.authenticate(channel=channel, socket_id=socket_id))
    except ValueError as exc:  # the library checks socket_id's form ("123.456")
        raise AuthError(400, f"socket_id invalid: {exc}") from None
