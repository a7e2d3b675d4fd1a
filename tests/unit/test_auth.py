"""Token checks and Pusher signatures of ``workers/serve/auth.py`` without a server: the
algorithm cannot be chosen by the token, ``agentq token``'s tokens verify, and a
signature is the one Pusher's own library computes."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pusher
import pytest

from workers.serve.auth import AuthError, make_token, pusher_authorize, verify
from workers.settings import SettingsError, load_settings

SECRET = "unit-test-jwt-secret-" + "0123456789abcdef" * 4  # 64+ bytes: HS512 below too
SETTINGS = load_settings(
    supabase_jwt_secret=SECRET, pusher_app_id="1", pusher_key="k", pusher_secret="pusher-secret"
)


def refused(token: str) -> AuthError:
    with pytest.raises(AuthError) as err:
        verify(SETTINGS, f"Bearer {token}")
    return err.value


def test_the_algorithm_is_not_the_tokens_choice() -> None:
    claims = {"role": "authenticated", "sub": "a", "exp": 4_102_444_800}
    hs512 = jwt.encode(claims, SECRET, algorithm="HS512")
    assert (refused(hs512).status, refused(hs512).message) == (
        401,
        "token is not signed with HS256",
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
    unsigned = f"{header.decode()}.{body.decode()}."
    assert refused(unsigned).status == 401


def test_agentq_token_verifies_and_carries_role_and_sub() -> None:
    who = verify(SETTINGS, "Bearer " + make_token(SETTINGS, "authenticated", "u-1", 60))
    assert (who.sub, who.role) == ("u-1", "authenticated")
    service = verify(SETTINGS, "bearer " + make_token(SETTINGS, "service_role", None, 60))
    assert (service.sub, service.role) == (None, "service_role")
    assert refused(make_token(SETTINGS, "anon", None, 60)).status == 401


def test_no_secret_is_503_before_looking_at_the_token() -> None:
    with pytest.raises(AuthError) as err:
        verify(load_settings(), None)
    assert err.value.status == 503 and "SUPABASE_JWT_SECRET is not configured" in err.value.message


def test_signature_is_pusher_libraries_and_only_for_the_owner() -> None:
    who = verify(SETTINGS, "Bearer " + make_token(SETTINGS, "authenticated", "u-1", 60))
    got = pusher_authorize(SETTINGS, who, "1234.5678", "private-agentq-user-u-1")
    lib = pusher.Pusher(app_id="1", key="k", secret="pusher-secret")
    assert got == lib.authenticate(channel="private-agentq-user-u-1", socket_id="1234.5678")
    for channel in ("private-agentq-user-u-2", "private-agentq-user-u-1x", "agentq-user-u-1"):
        with pytest.raises(AuthError) as err:
            pusher_authorize(SETTINGS, who, "1234.5678", channel)
        assert err.value.status == 403
    service = verify(SETTINGS, "Bearer " + make_token(SETTINGS, "service_role", None, 60))
    with pytest.raises(AuthError) as err:
        pusher_authorize(SETTINGS, service, "1234.5678", "private-agentq-user-u-1")
    assert err.value.status == 403 and "no usable 'sub'" in err.value.message


def _signed(claims: dict[str, object]) -> str:
    return jwt.encode(claims, SECRET, algorithm="HS256")


def test_a_token_living_longer_than_the_setting_is_401_whatever_its_numbers() -> None:
    now = int(time.time())
    for claims in (
        {"exp": 253_402_300_799, "iat": now},  # 9999-12-31
        {"exp": now + 86_401},  # no iat: counted from now
        {"exp": 10**400, "iat": now},  # float() of it overflows
        {"exp": now + 60, "iat": now - 86_400},  # minted a day ago, still one minute left
    ):
        err = refused(_signed({"role": "authenticated", "sub": "a", **claims}))
        assert err.status == 401 and err.message.startswith("token lifetime too long"), claims
    short = load_settings(supabase_jwt_secret=SECRET, api_max_token_lifetime_seconds=30)
    with pytest.raises(AuthError) as err:
        verify(short, "Bearer " + make_token(short, "service_role", None, 60))
    assert "the 30 s this server accepts" in err.value.message
    ok = _signed({"role": "authenticated", "sub": "a", "exp": now + 86_000, "iat": now})
    assert verify(SETTINGS, f"Bearer {ok}").sub == "a"


@pytest.mark.parametrize("role", [["service_role"], {"a": 1}, 1, True, "SERVICE_ROLE"])
def test_a_role_of_another_type_is_401(role: object) -> None:
    err = refused(_signed({"role": role, "sub": "a", "exp": int(time.time()) + 60}))
    assert err.status == 401 and err.message.startswith("token role"), err.message


def test_a_jwt_secret_under_32_bytes_is_refused_naming_the_setting() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(supabase_jwt_secret="é" * 15)  # 30 bytes, 15 characters
    assert "SUPABASE_JWT_SECRET" in str(err.value) and "30 bytes" in str(err.value)
    assert "é" not in str(err.value)
    assert load_settings(supabase_jwt_secret="k" * 32).supabase_jwt_secret is not None


def test_the_demo_pages_token_fits_the_servers_maximum(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.demo import page
    from workers.settings import get_settings

    monkeypatch.setenv("SUPABASE_JWT_SECRET", SECRET)
    monkeypatch.setenv("AGENTQ_API_MAX_TOKEN_LIFETIME_SECONDS", "3600")
    get_settings.cache_clear()
    try:
        plan = page.PagePlan(8088, "u-1", False, False)
        token = page.page_url(plan).split("#token=", 1)[1]
        assert verify(get_settings(), f"Bearer {token}").sub == "u-1"
        assert "valid 1 h" in page.describe(plan)
    finally:
        get_settings.cache_clear()
