"""Cognito's ID and access tokens: claims, signatures, expiry, key rotation and the JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from modelyard.errors import AuthenticationRequired
from modelyard.identity.tokens import (
    InvalidToken,
    TokenIssuer,
    TokenSubject,
    hash_refresh_token,
    new_refresh_token,
    new_signing_key,
)

BASE_URL = "https://idp.example.test"
POOL_ID = "eu-west-1_AbCdEf123"
ISSUER = f"{BASE_URL}/{POOL_ID}"
NOW = 1_700_000_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def signing_key() -> tuple[str, str]:
    return new_signing_key()


@pytest.fixture(scope="module")
def other_key() -> tuple[str, str]:
    return new_signing_key()


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW + 0.75)


@pytest.fixture
def issuer(signing_key: tuple[str, str], clock: Clock) -> TokenIssuer:
    return TokenIssuer([signing_key], base_url=BASE_URL + "/", clock=clock)


def subject(**changes: Any) -> TokenSubject:
    fields: dict[str, Any] = {
        "pool_id": POOL_ID,
        "username": "alice",
        "sub": "7d8c1b2a-0000-4000-8000-000000000001",
        "groups": ("admin", "user"),
        "email": "alice@example.test",
        "client_id": "client-1",
        "auth_time": NOW - 100,
    }
    return TokenSubject(**(fields | changes))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value).encode())


def private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


# Signing keys


def test_a_signing_key_is_an_unencrypted_pkcs8_rsa_2048_key(signing_key: tuple[str, str]) -> None:
    _, pem = signing_key

    assert pem.startswith("-----BEGIN PRIVATE KEY-----\n")
    assert private_key(pem).key_size == 2048


def test_a_kid_is_the_rfc_7638_thumbprint(signing_key: tuple[str, str]) -> None:
    kid, pem = signing_key
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private_key(pem).public_key(), as_dict=True)
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )

    assert kid == b64url(hashlib.sha256(canonical.encode()).digest())
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", kid)


def test_signing_keys_differ(signing_key: tuple[str, str], other_key: tuple[str, str]) -> None:
    assert signing_key[0] != other_key[0]
    assert signing_key[1] != other_key[1]


# Claims


def test_an_id_token_carries_cognitos_claims(issuer: TokenIssuer) -> None:
    token = issuer.id_token(subject(), validity_s=3600)

    claims = issuer.verify(token)
    assert claims == claims_of(token)
    assert {key: value for key, value in claims.items() if "jti" not in key} == {
        "sub": "7d8c1b2a-0000-4000-8000-000000000001",
        "cognito:username": "alice",
        "cognito:groups": ["admin", "user"],
        "email": "alice@example.test",
        "aud": "client-1",
        "token_use": "id",
        "iss": ISSUER,
        "iat": NOW,
        "exp": NOW + 3600,
        "auth_time": NOW - 100,
    }
    assert uuid.UUID(claims["jti"]).version == 4
    assert uuid.UUID(claims["origin_jti"]).version == 4


def test_an_access_token_carries_cognitos_claims(issuer: TokenIssuer) -> None:
    token = issuer.access_token(subject(), validity_s=600)

    claims = issuer.verify(token)
    assert {key: value for key, value in claims.items() if "jti" not in key} == {
        "sub": "7d8c1b2a-0000-4000-8000-000000000001",
        "username": "alice",
        "cognito:groups": ["admin", "user"],
        "client_id": "client-1",
        "scope": "aws.cognito.signin.user.admin",
        "token_use": "access",
        "iss": ISSUER,
        "iat": NOW,
        "exp": NOW + 600,
        "auth_time": NOW - 100,
    }
    assert uuid.UUID(claims["jti"]).version == 4
    assert uuid.UUID(claims["origin_jti"]).version == 4


def test_the_header_names_the_key_and_rs256_only(
    issuer: TokenIssuer, signing_key: tuple[str, str]
) -> None:
    for token in (
        issuer.id_token(subject(), validity_s=60),
        issuer.access_token(subject(), validity_s=60),
    ):
        assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": signing_key[0]}


def test_users_in_no_group_get_no_groups_claim(issuer: TokenIssuer) -> None:
    alone = subject(groups=())

    assert "cognito:groups" not in claims_of(issuer.id_token(alone, validity_s=60))
    assert "cognito:groups" not in claims_of(issuer.access_token(alone, validity_s=60))


def test_users_without_email_get_no_email_claim(issuer: TokenIssuer) -> None:
    assert "email" not in claims_of(issuer.id_token(subject(email=None), validity_s=60))


def test_access_tokens_never_carry_the_email(issuer: TokenIssuer) -> None:
    assert "email" not in claims_of(issuer.access_token(subject(), validity_s=60))


def test_scopes_are_space_separated(issuer: TokenIssuer) -> None:
    token = issuer.access_token(subject(scopes=("openid", "email", "api/read")), validity_s=60)

    assert claims_of(token)["scope"] == "openid email api/read"


def test_tokens_of_one_authentication_share_the_origin_jti(issuer: TokenIssuer) -> None:
    id_token = issuer.id_token(subject(), validity_s=60)
    origin = claims_of(id_token)["origin_jti"]
    access_token = issuer.access_token(subject(), validity_s=60, origin_jti=origin)
    refreshed = issuer.id_token(subject(), validity_s=60, origin_jti=origin)

    assert claims_of(access_token)["origin_jti"] == origin
    assert claims_of(refreshed)["origin_jti"] == origin
    assert claims_of(id_token)["jti"] != claims_of(refreshed)["jti"]


def test_each_token_gets_a_new_jti_and_origin_jti(issuer: TokenIssuer) -> None:
    first = claims_of(issuer.access_token(subject(), validity_s=60))
    second = claims_of(issuer.access_token(subject(), validity_s=60))

    assert first["jti"] != second["jti"]
    assert first["origin_jti"] != second["origin_jti"]


# Expiry


def test_a_token_expires_after_its_validity(issuer: TokenIssuer, clock: Clock) -> None:
    token = issuer.access_token(subject(), validity_s=60)

    clock.now = NOW + 59.999
    assert issuer.verify(token)["username"] == "alice"
    clock.now = NOW + 60
    with pytest.raises(InvalidToken, match="^Token has expired$"):
        issuer.verify(token)


def test_leeway_extends_the_expiry(issuer: TokenIssuer, clock: Clock) -> None:
    token = issuer.id_token(subject(), validity_s=60)
    clock.now = NOW + 65

    assert issuer.verify(token, leeway_s=10)["cognito:username"] == "alice"
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token, leeway_s=5)


def test_a_token_from_another_issuer_with_a_later_clock_is_checked_against_ours(
    signing_key: tuple[str, str],
) -> None:
    past = TokenIssuer([signing_key], base_url=BASE_URL, clock=lambda: NOW - 3600)
    present = TokenIssuer([signing_key], base_url=BASE_URL, clock=lambda: NOW)

    token = past.id_token(subject(), validity_s=3599)

    assert past.verify(token)["iat"] == NOW - 3600
    with pytest.raises(InvalidToken, match="expired"):
        present.verify(token)


# Tampering and foreign tokens


def test_a_changed_payload_breaks_the_signature(issuer: TokenIssuer) -> None:
    header, payload, signature = issuer.access_token(subject(), validity_s=60).split(".")
    claims = claims_of(f"{header}.{payload}.{signature}")
    forged = f"{header}.{segment(claims | {'cognito:groups': ['admin', 'root']})}.{signature}"

    with pytest.raises(InvalidToken, match="^Invalid signature$"):
        issuer.verify(forged)


def test_a_changed_signature_is_rejected(issuer: TokenIssuer) -> None:
    header, payload, signature = issuer.access_token(subject(), validity_s=60).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(InvalidToken, match="^Invalid signature$"):
        issuer.verify(f"{header}.{payload}.{flipped}")


def test_a_token_signed_by_another_key_under_our_kid_is_rejected(
    issuer: TokenIssuer, signing_key: tuple[str, str], other_key: tuple[str, str], clock: Clock
) -> None:
    impostor = TokenIssuer([(signing_key[0], other_key[1])], base_url=BASE_URL, clock=clock)
    token = impostor.access_token(subject(), validity_s=60)

    with pytest.raises(InvalidToken, match="^Invalid signature$"):
        issuer.verify(token)


def test_a_token_naming_an_unknown_key_is_rejected(
    issuer: TokenIssuer, other_key: tuple[str, str], clock: Clock
) -> None:
    stranger = TokenIssuer([other_key], base_url=BASE_URL, clock=clock)

    with pytest.raises(InvalidToken, match="^Unknown key$"):
        issuer.verify(stranger.access_token(subject(), validity_s=60))


def test_a_token_naming_no_key_is_rejected(
    issuer: TokenIssuer, signing_key: tuple[str, str]
) -> None:
    claims = claims_of(issuer.access_token(subject(), validity_s=60))
    token = jwt.encode(claims, private_key(signing_key[1]), algorithm="RS256")

    with pytest.raises(InvalidToken, match="^Unknown key$"):
        issuer.verify(token)


def test_an_unsigned_token_is_rejected(issuer: TokenIssuer, signing_key: tuple[str, str]) -> None:
    claims = claims_of(issuer.access_token(subject(), validity_s=60))
    header = {"alg": "none", "kid": signing_key[0]}

    for signature in ("", "c2lnbmVk"):
        with pytest.raises(InvalidToken, match="^Unsupported algorithm$"):
            issuer.verify(f"{segment(header)}.{segment(claims)}.{signature}")


def test_an_hs256_token_keyed_with_our_public_key_is_rejected(
    issuer: TokenIssuer, signing_key: tuple[str, str]
) -> None:
    # The classic confusion: a verifier that lets the header pick the algorithm would check
    # this HMAC with the public key PEM as the secret, which anyone can fetch from the JWKS.
    kid, pem = signing_key
    public_pem = (
        private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = claims_of(issuer.access_token(subject(), validity_s=60))
    signing_input = f"{segment({'alg': 'HS256', 'kid': kid})}.{segment(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken, match="^Unsupported algorithm$"):
        issuer.verify(f"{signing_input}.{b64url(mac)}")


def test_an_rs256_header_over_an_hmac_signature_is_rejected(
    issuer: TokenIssuer, signing_key: tuple[str, str]
) -> None:
    kid, pem = signing_key
    public_pem = (
        private_key(pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    claims = claims_of(issuer.access_token(subject(), validity_s=60))
    signing_input = f"{segment({'alg': 'RS256', 'kid': kid})}.{segment(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken, match="^Invalid signature$"):
        issuer.verify(f"{signing_input}.{b64url(mac)}")


@pytest.mark.parametrize(
    "token",
    ["", "not a token", "a.b", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30", "....", "é.é.é"],
)
def test_garbage_is_a_malformed_token(issuer: TokenIssuer, token: str) -> None:
    with pytest.raises(InvalidToken, match="^Malformed token$"):
        issuer.verify(token)


@pytest.mark.parametrize("missing", ["exp", "iss", "token_use"])
def test_a_signed_token_without_a_required_claim_is_malformed(
    issuer: TokenIssuer, signing_key: tuple[str, str], missing: str
) -> None:
    kid, pem = signing_key
    claims = claims_of(issuer.access_token(subject(), validity_s=60))
    del claims[missing]
    token = jwt.encode(claims, private_key(pem), algorithm="RS256", headers={"kid": kid})

    with pytest.raises(InvalidToken, match="^Malformed token$"):
        issuer.verify(token)


@pytest.mark.parametrize("expires", ["tomorrow", True, [NOW + 60]])
def test_a_signed_token_with_a_non_numeric_expiry_is_malformed(
    issuer: TokenIssuer, signing_key: tuple[str, str], expires: object
) -> None:
    kid, pem = signing_key
    claims = claims_of(issuer.access_token(subject(), validity_s=60)) | {"exp": expires}
    token = jwt.encode(claims, private_key(pem), algorithm="RS256", headers={"kid": kid})

    with pytest.raises(InvalidToken, match="^Malformed token$"):
        issuer.verify(token)


def test_invalid_token_asks_for_authentication() -> None:
    error = InvalidToken()

    assert isinstance(error, AuthenticationRequired)
    assert error.message == (
        "The token is not valid: malformed, expired, revoked or not signed by us."
    )


# Issuer, token use and audience


def test_the_issuer_is_the_base_url_and_the_pool(issuer: TokenIssuer) -> None:
    assert issuer.issuer(POOL_ID) == ISSUER
    assert issuer.issuer("other") == f"{BASE_URL}/other"


def test_a_token_of_another_pool_is_rejected_when_the_pool_is_given(
    issuer: TokenIssuer,
) -> None:
    token = issuer.access_token(subject(pool_id="eu-west-1_Other"), validity_s=60)

    assert issuer.verify(token)["iss"] == f"{BASE_URL}/eu-west-1_Other"
    assert issuer.verify(token, pool_id="eu-west-1_Other")["username"] == "alice"
    with pytest.raises(InvalidToken, match="^Invalid issuer$"):
        issuer.verify(token, pool_id=POOL_ID)


@pytest.mark.parametrize(
    "base_url", [BASE_URL + ".evil", BASE_URL + "/nested", "https://elsewhere.test"]
)
def test_a_token_of_another_issuer_is_rejected_even_with_our_key(
    issuer: TokenIssuer, signing_key: tuple[str, str], clock: Clock, base_url: str
) -> None:
    foreign = TokenIssuer([signing_key], base_url=base_url, clock=clock)
    token = foreign.access_token(subject(), validity_s=60)

    with pytest.raises(InvalidToken, match="^Invalid issuer$"):
        issuer.verify(token)


def test_a_token_with_an_empty_pool_is_rejected(issuer: TokenIssuer) -> None:
    token = issuer.access_token(subject(pool_id=""), validity_s=60)

    with pytest.raises(InvalidToken, match="^Invalid issuer$"):
        issuer.verify(token)


def test_the_token_use_is_checked_when_given(issuer: TokenIssuer) -> None:
    id_token = issuer.id_token(subject(), validity_s=60)
    access_token = issuer.access_token(subject(), validity_s=60)

    assert issuer.verify(id_token, token_use="id")["token_use"] == "id"
    assert issuer.verify(access_token, token_use="access")["token_use"] == "access"
    with pytest.raises(InvalidToken, match="^Wrong token use$"):
        issuer.verify(id_token, token_use="access")
    with pytest.raises(InvalidToken, match="^Wrong token use$"):
        issuer.verify(access_token, token_use="id")


def test_the_audience_is_the_aud_of_id_tokens_and_client_id_of_access_tokens(
    issuer: TokenIssuer,
) -> None:
    id_token = issuer.id_token(subject(), validity_s=60)
    access_token = issuer.access_token(subject(), validity_s=60)

    assert issuer.verify(id_token, audience="client-1")["aud"] == "client-1"
    assert issuer.verify(access_token, audience="client-1")["client_id"] == "client-1"
    for token in (id_token, access_token):
        with pytest.raises(InvalidToken, match="^Invalid audience$"):
            issuer.verify(token, audience="client-2")


def test_all_checks_together(issuer: TokenIssuer) -> None:
    token = issuer.access_token(subject(), validity_s=60)

    claims = issuer.verify(token, token_use="access", pool_id=POOL_ID, audience="client-1")
    assert claims["sub"] == "7d8c1b2a-0000-4000-8000-000000000001"


# Keys: rotation and the JWKS


def test_the_first_key_signs_and_every_key_verifies(
    signing_key: tuple[str, str], other_key: tuple[str, str], clock: Clock
) -> None:
    old = TokenIssuer([signing_key], base_url=BASE_URL, clock=clock)
    rotated = TokenIssuer([other_key, signing_key], base_url=BASE_URL, clock=clock)
    old_token = old.access_token(subject(), validity_s=60)
    new_token = rotated.access_token(subject(), validity_s=60)

    assert jwt.get_unverified_header(new_token)["kid"] == other_key[0]
    assert rotated.verify(old_token)["username"] == "alice"
    assert rotated.verify(new_token)["username"] == "alice"
    with pytest.raises(InvalidToken, match="^Unknown key$"):
        old.verify(new_token)


def test_the_jwks_lists_every_public_key(
    signing_key: tuple[str, str], other_key: tuple[str, str]
) -> None:
    issuer = TokenIssuer([signing_key, other_key], base_url=BASE_URL)

    jwks = issuer.jwks()

    assert [key["kid"] for key in jwks["keys"]] == [signing_key[0], other_key[0]]
    for key, (_, pem) in zip(jwks["keys"], [signing_key, other_key], strict=True):
        numbers = private_key(pem).public_key().public_numbers()
        assert set(key) == {"kid", "alg", "kty", "use", "e", "n"}
        assert (key["alg"], key["kty"], key["use"]) == ("RS256", "RSA", "sig")
        assert key["e"] == "AQAB"
        assert re.fullmatch(r"[A-Za-z0-9_-]+", key["n"])
        n = int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4)))
        assert n == numbers.n


def test_a_token_verifies_with_the_published_jwk_alone(issuer: TokenIssuer) -> None:
    token = issuer.id_token(subject(), validity_s=60)
    (published,) = issuer.jwks()["keys"]

    claims = jwt.decode(
        token,
        jwt.PyJWK(published).key,
        algorithms=["RS256"],
        audience="client-1",
        issuer=ISSUER,
        options={"verify_exp": False, "verify_iat": False},
    )

    assert claims["cognito:username"] == "alice"


def test_an_issuer_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one"):
        TokenIssuer([], base_url=BASE_URL)


def test_an_issuer_refuses_two_keys_with_one_kid(
    signing_key: tuple[str, str], other_key: tuple[str, str]
) -> None:
    with pytest.raises(ValueError, match="share the kid"):
        TokenIssuer([signing_key, (signing_key[0], other_key[1])], base_url=BASE_URL)


def test_an_issuer_refuses_a_key_that_is_not_rsa() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )

    with pytest.raises(ValueError, match="not an RSA private key"):
        TokenIssuer([("ec", pem)], base_url=BASE_URL)


# Refresh tokens


def test_refresh_tokens_are_long_random_and_url_safe() -> None:
    tokens = {new_refresh_token() for _ in range(20)}

    assert len(tokens) == 20
    for token in tokens:
        assert len(token) >= 64
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)


def test_a_refresh_token_is_stored_as_its_sha256() -> None:
    assert hash_refresh_token("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    token = new_refresh_token()
    assert hash_refresh_token(token) == hash_refresh_token(token)
    assert hash_refresh_token(token) != hash_refresh_token(token + "x")
