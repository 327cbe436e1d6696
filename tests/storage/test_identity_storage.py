"""The identity area's storage, on SQLite and PostgreSQL: user pools, app clients, users,
groups and memberships, refresh tokens, access keys and signing keys."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import inspect

from modelyard.errors import DatabaseError
from modelyard.storage import Database
from modelyard.storage.database import _alembic_config
from modelyard.storage.identity import (
    AccessKey,
    AccessKeyStatus,
    Group,
    IdentityStore,
    RefreshToken,
    SigningKey,
    User,
    UserPool,
    UserPoolClient,
    UserStatus,
)

#: Microseconds included: they must survive the round trip too.
NOW = datetime(2026, 12, 2, 9, 30, 15, 123456, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
POOL = "us-east-1_AbCdEf123"
OTHER_POOL = "us-east-1_ZzZzZz999"
CLIENT = "3n4b5urk1ft4fl3mg5e62d9ado"

NEW_TABLES = {
    "user_pools",
    "user_pool_clients",
    "identity_users",
    "identity_groups",
    "identity_memberships",
    "identity_refresh_tokens",
    "access_keys",
    "signing_keys",
}


def make_pool(pool_id: str = POOL, *, name: str = "main") -> UserPool:
    return UserPool(
        id=pool_id,
        name=name,
        password_policy={"MinimumLength": 12, "RequireSymbols": True, "Nested": {"a": [1, 2]}},
        created_at=NOW,
        last_modified_at=NOW,
    )


def make_client(client_id: str = CLIENT, *, pool_id: str = POOL) -> UserPoolClient:
    return UserPoolClient(
        client_id=client_id,
        pool_id=pool_id,
        name="web",
        secret=None,
        explicit_auth_flows=("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"),
        access_token_validity_s=3600,
        id_token_validity_s=1800,
        refresh_token_validity_s=30 * 86400,
        created_at=NOW,
        last_modified_at=NOW,
    )


def make_user(username: str = "alice", *, pool_id: str = POOL) -> User:
    return User(
        pool_id=pool_id,
        username=username,
        sub=str(uuid.uuid4()),
        password_hash="$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        status=UserStatus.CONFIRMED,
        enabled=True,
        attributes={"email": f"{username}@example.com", "custom:team": "ml"},
        created_at=NOW,
        last_modified_at=NOW,
    )


def make_group(
    name: str = "admins", *, pool_id: str = POOL, precedence: int | None = None
) -> Group:
    return Group(
        pool_id=pool_id,
        name=name,
        description=f"the {name}",
        precedence=precedence,
        role_arn=f"arn:aws:iam::123456789012:role/{name}",
        created_at=NOW,
        last_modified_at=NOW,
    )


def make_token(token_hash: str, *, username: str = "alice", pool_id: str = POOL) -> RefreshToken:
    return RefreshToken(
        token_hash=token_hash,
        pool_id=pool_id,
        username=username,
        client_id=CLIENT,
        issued_at=1_800_000_000.25,
        expires_at=1_802_592_000.25,
        revoked=False,
    )


def make_key(
    access_key_id: str, *, username: str = "alice", created_at: datetime = NOW
) -> AccessKey:
    return AccessKey(
        access_key_id=access_key_id,
        secret=f"secret-of-{access_key_id}",
        pool_id=POOL,
        username=username,
        status=AccessKeyStatus.ACTIVE,
        created_at=created_at,
    )


@pytest.fixture
def store(database: Database) -> IdentityStore:
    return IdentityStore(database)


@pytest.fixture
def pool(store: IdentityStore) -> UserPool:
    """The pool ``POOL`` with the app client ``CLIENT``."""
    pool = make_pool()
    assert store.add_pool(pool)
    assert store.add_client(make_client())
    return pool


@pytest.fixture
def alice(store: IdentityStore, pool: UserPool) -> User:
    user = make_user("alice")
    assert store.add_user(user)
    return user


# -- pools ---------------------------------------------------------------------------------


def test_a_pool_round_trips_with_its_policy(store: IdentityStore) -> None:
    pool = make_pool()

    assert store.add_pool(pool)

    found = store.get_pool(POOL)
    assert found == pool
    assert found is not None and found.created_at.tzinfo is not None
    assert found.password_policy["Nested"] == {"a": [1, 2]}


def test_a_pool_id_is_added_once(store: IdentityStore) -> None:
    assert store.add_pool(make_pool())

    assert not store.add_pool(make_pool(name="another"))
    found = store.get_pool(POOL)
    assert found is not None and found.name == "main"


def test_a_missing_pool_is_none(store: IdentityStore) -> None:
    assert store.get_pool("us-east-1_nothere") is None
    assert store.pool_named("nothere") is None


def test_times_come_back_in_utc_whatever_zone_they_were_given_in(store: IdentityStore) -> None:
    paris = timezone(timedelta(hours=1))
    pool = replace(make_pool(), created_at=NOW.astimezone(paris))

    store.add_pool(pool)

    found = store.get_pool(POOL)
    assert found is not None
    assert found.created_at == NOW and found.created_at.utcoffset() == timedelta(0)


def test_pool_named_takes_the_first_by_id(store: IdentityStore) -> None:
    store.add_pool(make_pool("us-east-1_B", name="shared"))
    store.add_pool(make_pool("us-east-1_A", name="shared"))
    store.add_pool(make_pool("us-east-1_0", name="other"))

    found = store.pool_named("shared")

    assert found is not None and found.id == "us-east-1_A"


def test_pools_are_listed_in_pages_by_id(store: IdentityStore) -> None:
    ids = [f"us-east-1_p{i}" for i in range(5)]
    for pool_id in reversed(ids):
        store.add_pool(make_pool(pool_id))

    first, after = store.list_pools(after=None, limit=2)
    second, after2 = store.list_pools(after=after, limit=2)
    third, after3 = store.list_pools(after=after2, limit=2)

    assert [p.id for p in first] == ids[:2] and after == ids[1]
    assert [p.id for p in second] == ids[2:4] and after2 == ids[3]
    assert [p.id for p in third] == ids[4:] and after3 is None


def test_a_page_that_holds_the_rest_exactly_is_the_last(store: IdentityStore) -> None:
    for i in range(2):
        store.add_pool(make_pool(f"us-east-1_p{i}"))

    found, after = store.list_pools(after=None, limit=2)

    assert len(found) == 2 and after is None
    assert store.list_pools(after="us-east-1_p1", limit=2) == ([], None)


def test_a_page_of_no_records_is_refused(store: IdentityStore) -> None:
    with pytest.raises(ValueError, match="at least one"):
        store.list_pools(after=None, limit=0)


def test_deleting_a_pool_deletes_everything_of_it(store: IdentityStore, alice: User) -> None:
    # A second pool, whose records must stay.
    store.add_pool(make_pool(OTHER_POOL))
    store.add_client(make_client("other-client", pool_id=OTHER_POOL))
    bob = make_user("bob", pool_id=OTHER_POOL)
    store.add_user(bob)
    store.add_group(make_group(pool_id=OTHER_POOL))
    store.add_to_group(OTHER_POOL, "bob", "admins")
    store.add_group(make_group())
    store.add_to_group(POOL, "alice", "admins")
    store.add_refresh_token(make_token("h1"))
    store.add_access_key(make_key("AKIAAAAAAAAAAAAAAAA1"))
    store.add_signing_key(SigningKey(kid="k1", private_pem="pem", created_at=NOW))

    assert store.delete_pool(POOL)

    assert store.get_pool(POOL) is None
    assert store.get_client(CLIENT) is None
    assert store.get_user(POOL, "alice") is None
    assert store.user_by_sub(alice.sub) is None
    assert store.get_group(POOL, "admins") is None
    assert store.groups_of(POOL, "alice") == []
    assert store.get_refresh_token("h1") is None
    assert store.get_access_key("AKIAAAAAAAAAAAAAAAA1") is None
    # Another pool's records, and the signing keys (no pool's), stay.
    assert store.get_client("other-client") is not None
    assert store.user_by_sub(bob.sub) == bob
    assert [g.name for g in store.groups_of(OTHER_POOL, "bob")] == ["admins"]
    assert [k.kid for k in store.signing_keys()] == ["k1"]


def test_deleting_a_missing_pool_is_false(store: IdentityStore) -> None:
    assert not store.delete_pool(POOL)


# -- app clients ---------------------------------------------------------------------------


def test_a_client_round_trips(store: IdentityStore, pool: UserPool) -> None:
    client = replace(make_client("c2"), secret="s3cr3t", explicit_auth_flows=())

    assert store.add_client(client)

    assert store.get_client("c2") == client
    assert store.get_client(CLIENT) == make_client()


def test_a_client_id_is_added_once(store: IdentityStore, pool: UserPool) -> None:
    assert not store.add_client(replace(make_client(), name="again"))
    found = store.get_client(CLIENT)
    assert found is not None and found.name == "web"


def test_a_client_of_a_missing_pool_is_not_added(store: IdentityStore) -> None:
    assert not store.add_client(make_client())
    assert store.get_client(CLIENT) is None


def test_clients_are_listed_by_pool_in_pages(store: IdentityStore, pool: UserPool) -> None:
    store.add_pool(make_pool(OTHER_POOL))
    store.add_client(make_client("a-other", pool_id=OTHER_POOL))
    for client_id in ("c1", "c2", "c3"):
        store.add_client(make_client(client_id))

    first, after = store.list_clients(POOL, after=None, limit=3)
    rest, last = store.list_clients(POOL, after=after, limit=3)

    assert [c.client_id for c in first] == ["3n4b5urk1ft4fl3mg5e62d9ado", "c1", "c2"]
    assert after == "c2"
    assert [c.client_id for c in rest] == ["c3"] and last is None
    assert [c.client_id for c in store.list_clients(OTHER_POOL, after=None, limit=9)[0]] == [
        "a-other"
    ]


def test_deleting_a_client_deletes_its_refresh_tokens(store: IdentityStore, alice: User) -> None:
    store.add_refresh_token(make_token("h1"))

    assert store.delete_client(CLIENT)

    assert store.get_client(CLIENT) is None
    assert store.get_refresh_token("h1") is None
    assert store.get_user(POOL, "alice") == alice
    assert not store.delete_client(CLIENT)


# -- users ---------------------------------------------------------------------------------


def test_a_user_round_trips(store: IdentityStore, pool: UserPool) -> None:
    user = replace(make_user(), signed_out_at=1_800_000_123.5, enabled=False)

    assert store.add_user(user)

    assert store.get_user(POOL, "alice") == user
    assert store.user_by_sub(user.sub) == user


def test_a_user_without_a_password_round_trips(store: IdentityStore, pool: UserPool) -> None:
    user = replace(make_user(), password_hash=None, status=UserStatus.UNCONFIRMED, attributes={})

    store.add_user(user)

    assert store.get_user(POOL, "alice") == user


def test_usernames_are_case_sensitive(store: IdentityStore, alice: User) -> None:
    upper = make_user("Alice")

    assert store.add_user(upper)

    assert store.get_user(POOL, "Alice") == upper
    assert store.get_user(POOL, "alice") == alice
    assert store.get_user(POOL, "ALICE") is None


def test_a_username_is_added_once_per_pool(store: IdentityStore, alice: User) -> None:
    store.add_pool(make_pool(OTHER_POOL))

    assert not store.add_user(make_user("alice"))
    assert store.add_user(make_user("alice", pool_id=OTHER_POOL))
    assert store.get_user(POOL, "alice") == alice


def test_a_sub_is_unique_across_pools(store: IdentityStore, alice: User) -> None:
    store.add_pool(make_pool(OTHER_POOL))

    assert not store.add_user(replace(make_user("carol", pool_id=OTHER_POOL), sub=alice.sub))
    assert store.get_user(OTHER_POOL, "carol") is None


def test_a_user_of_a_missing_pool_is_not_added(store: IdentityStore) -> None:
    assert not store.add_user(make_user())


def test_a_sub_among_the_attributes_is_refused(store: IdentityStore, pool: UserPool) -> None:
    with pytest.raises(ValueError, match="sub"):
        store.add_user(replace(make_user(), attributes={"sub": "x"}))
    assert store.get_user(POOL, "alice") is None


def test_a_missing_user_is_none(store: IdentityStore, pool: UserPool) -> None:
    assert store.get_user(POOL, "nobody") is None
    assert store.user_by_sub(str(uuid.uuid4())) is None


def test_users_are_listed_by_pool_in_pages(store: IdentityStore, pool: UserPool) -> None:
    store.add_pool(make_pool(OTHER_POOL))
    store.add_user(make_user("aaron", pool_id=OTHER_POOL))
    names = ["user-0", "user-1", "user-2", "user-3"]
    for name in reversed(names):
        store.add_user(make_user(name))

    first, after = store.list_users(POOL, after=None, limit=3)
    rest, last = store.list_users(POOL, after=after, limit=3)

    assert [u.username for u in first] == names[:3] and after == "user-2"
    assert [u.username for u in rest] == names[3:] and last is None


def test_update_user_changes_only_what_is_given(store: IdentityStore, alice: User) -> None:
    updated = store.update_user(POOL, "alice", status=UserStatus.RESET_REQUIRED, now=LATER)

    assert updated == replace(alice, status=UserStatus.RESET_REQUIRED, last_modified_at=LATER)
    assert store.get_user(POOL, "alice") == updated


def test_update_user_changes_every_field_given(store: IdentityStore, alice: User) -> None:
    updated = store.update_user(
        POOL,
        "alice",
        password_hash="$argon2id$new",
        status=UserStatus.FORCE_CHANGE_PASSWORD,
        enabled=False,
        attributes={"email": "a@example.org"},
        signed_out_at=1_800_000_999.75,
        now=LATER,
    )

    expected = replace(
        alice,
        password_hash="$argon2id$new",
        status=UserStatus.FORCE_CHANGE_PASSWORD,
        enabled=False,
        attributes={"email": "a@example.org"},
        signed_out_at=1_800_000_999.75,
        last_modified_at=LATER,
    )
    assert updated == expected
    assert store.get_user(POOL, "alice") == expected
    assert expected.created_at == NOW


def test_update_user_sets_none_when_none_is_given(store: IdentityStore, pool: UserPool) -> None:
    store.add_user(replace(make_user(), signed_out_at=5.0))

    updated = store.update_user(POOL, "alice", password_hash=None, signed_out_at=None, now=LATER)

    assert updated is not None
    assert updated.password_hash is None and updated.signed_out_at is None
    assert updated.attributes == make_user().attributes


def test_update_user_of_a_missing_user_is_none(store: IdentityStore, alice: User) -> None:
    assert store.update_user(POOL, "nobody", enabled=False, now=LATER) is None
    assert store.update_user(POOL, "ALICE", enabled=False, now=LATER) is None
    assert store.get_user(POOL, "alice") == alice


def test_update_user_refuses_a_sub_attribute(store: IdentityStore, alice: User) -> None:
    with pytest.raises(ValueError, match="sub"):
        store.update_user(POOL, "alice", attributes={"sub": "x"}, now=LATER)
    assert store.get_user(POOL, "alice") == alice


def test_deleting_a_user_deletes_its_memberships_tokens_and_keys(
    store: IdentityStore, alice: User
) -> None:
    store.add_user(make_user("bob"))
    store.add_group(make_group())
    for username in ("alice", "bob"):
        store.add_to_group(POOL, username, "admins")
    store.add_refresh_token(make_token("h-alice"))
    store.add_refresh_token(make_token("h-bob", username="bob"))
    store.add_access_key(make_key("AKIAAAAAAAAAAAAALICE"))

    assert store.delete_user(POOL, "alice")

    assert store.get_user(POOL, "alice") is None
    assert store.get_refresh_token("h-alice") is None
    assert store.get_access_key("AKIAAAAAAAAAAAAALICE") is None
    assert [u.username for u in store.users_in_group(POOL, "admins", after=None, limit=9)[0]] == [
        "bob"
    ]
    assert store.get_refresh_token("h-bob") is not None
    assert store.get_group(POOL, "admins") is not None
    assert not store.delete_user(POOL, "alice")


# -- groups --------------------------------------------------------------------------------


def test_a_group_round_trips(store: IdentityStore, pool: UserPool) -> None:
    group = make_group(precedence=3)
    bare = Group(pool_id=POOL, name="bare", created_at=NOW, last_modified_at=NOW)

    assert store.add_group(group)
    assert store.add_group(bare)

    assert store.get_group(POOL, "admins") == group
    assert store.get_group(POOL, "bare") == bare


def test_a_group_name_is_added_once_per_pool(store: IdentityStore, pool: UserPool) -> None:
    store.add_pool(make_pool(OTHER_POOL))
    store.add_group(make_group())

    assert not store.add_group(make_group(precedence=1))
    assert store.add_group(make_group(pool_id=OTHER_POOL))
    found = store.get_group(POOL, "admins")
    assert found is not None and found.precedence is None


def test_a_group_of_a_missing_pool_is_not_added(store: IdentityStore) -> None:
    assert not store.add_group(make_group())
    assert store.get_group(POOL, "admins") is None


def test_groups_are_listed_by_pool_in_pages(store: IdentityStore, pool: UserPool) -> None:
    for name in ("g3", "g1", "g2"):
        store.add_group(make_group(name))

    first, after = store.list_groups(POOL, after=None, limit=2)
    rest, last = store.list_groups(POOL, after=after, limit=2)

    assert [g.name for g in first] == ["g1", "g2"] and after == "g2"
    assert [g.name for g in rest] == ["g3"] and last is None
    assert store.list_groups(OTHER_POOL, after=None, limit=2) == ([], None)


def test_deleting_a_group_deletes_its_memberships_not_its_users(
    store: IdentityStore, alice: User
) -> None:
    store.add_group(make_group())
    store.add_group(make_group("readers"))
    store.add_to_group(POOL, "alice", "admins")
    store.add_to_group(POOL, "alice", "readers")

    assert store.delete_group(POOL, "admins")

    assert store.get_group(POOL, "admins") is None
    assert [g.name for g in store.groups_of(POOL, "alice")] == ["readers"]
    assert store.get_user(POOL, "alice") == alice
    assert not store.delete_group(POOL, "admins")


# -- memberships ---------------------------------------------------------------------------


def test_adding_to_a_group_twice_is_fine(store: IdentityStore, alice: User) -> None:
    store.add_group(make_group())

    assert store.add_to_group(POOL, "alice", "admins")
    assert store.add_to_group(POOL, "alice", "admins")

    assert store.groups_of(POOL, "alice") == [make_group()]


def test_adding_a_missing_user_or_to_a_missing_group_is_false(
    store: IdentityStore, alice: User
) -> None:
    store.add_group(make_group())

    assert not store.add_to_group(POOL, "nobody", "admins")
    assert not store.add_to_group(POOL, "alice", "nothing")
    assert not store.add_to_group(OTHER_POOL, "alice", "admins")
    assert store.groups_of(POOL, "alice") == []


def test_removing_from_a_group(store: IdentityStore, alice: User) -> None:
    store.add_group(make_group())
    store.add_to_group(POOL, "alice", "admins")

    assert store.remove_from_group(POOL, "alice", "admins")

    assert store.groups_of(POOL, "alice") == []
    assert not store.remove_from_group(POOL, "alice", "admins")
    assert store.get_group(POOL, "admins") is not None


def test_groups_of_a_user_go_by_precedence_none_last_then_name(
    store: IdentityStore, alice: User
) -> None:
    groups = [
        make_group("z-first", precedence=0),
        make_group("b-second", precedence=5),
        make_group("c-second", precedence=5),
        make_group("a-unranked"),
        make_group("d-unranked"),
        make_group("not-hers", precedence=-1),
    ]
    for group in reversed(groups):
        store.add_group(group)
    for group in groups[:-1]:
        store.add_to_group(POOL, "alice", group.name)

    assert [g.name for g in store.groups_of(POOL, "alice")] == [
        "z-first",
        "b-second",
        "c-second",
        "a-unranked",
        "d-unranked",
    ]


def test_a_user_in_no_group_has_none(store: IdentityStore, alice: User) -> None:
    assert store.groups_of(POOL, "alice") == []
    assert store.groups_of(POOL, "nobody") == []


def test_users_in_a_group_are_listed_in_pages(store: IdentityStore, pool: UserPool) -> None:
    store.add_group(make_group())
    store.add_group(make_group("others"))
    users = [make_user(f"user-{i}") for i in range(3)]
    for user in users:
        store.add_user(user)
        store.add_to_group(POOL, user.username, "admins")
    store.add_user(make_user("outsider"))
    store.add_to_group(POOL, "outsider", "others")

    first, after = store.users_in_group(POOL, "admins", after=None, limit=2)
    rest, last = store.users_in_group(POOL, "admins", after=after, limit=2)

    assert first == users[:2] and after == "user-1"
    assert rest == users[2:] and last is None
    assert store.users_in_group(POOL, "nothing", after=None, limit=2) == ([], None)


# -- refresh tokens ------------------------------------------------------------------------


def test_a_refresh_token_round_trips(store: IdentityStore, alice: User) -> None:
    token = make_token("a" * 64)

    store.add_refresh_token(token)

    assert store.get_refresh_token("a" * 64) == token
    assert store.get_refresh_token("b" * 64) is None


def test_a_refresh_token_hash_is_added_once(store: IdentityStore, alice: User) -> None:
    store.add_refresh_token(make_token("h1"))

    with pytest.raises(DatabaseError):
        store.add_refresh_token(make_token("h1"))


def test_a_refresh_token_of_a_missing_user_is_refused(store: IdentityStore, pool: UserPool) -> None:
    with pytest.raises(DatabaseError):
        store.add_refresh_token(make_token("h1", username="nobody"))
    assert store.get_refresh_token("h1") is None


def test_revoking_a_refresh_token(store: IdentityStore, alice: User) -> None:
    store.add_refresh_token(make_token("h1"))
    store.add_refresh_token(make_token("h2"))

    assert store.revoke_refresh_token("h1")

    assert store.get_refresh_token("h1") == replace(make_token("h1"), revoked=True)
    assert store.get_refresh_token("h2") == make_token("h2")
    assert store.revoke_refresh_token("h1")  # again: still there, still revoked
    assert not store.revoke_refresh_token("missing")


def test_revoking_the_refresh_tokens_of_a_user(store: IdentityStore, alice: User) -> None:
    store.add_user(make_user("bob"))
    for token_hash in ("h1", "h2", "h3"):
        store.add_refresh_token(make_token(token_hash))
    store.add_refresh_token(make_token("h-bob", username="bob"))
    store.revoke_refresh_token("h3")

    assert store.revoke_refresh_tokens_of(POOL, "alice") == 2

    tokens = [store.get_refresh_token(token_hash) for token_hash in ("h1", "h2", "h3")]
    assert [token is not None and token.revoked for token in tokens] == [True, True, True]
    assert store.get_refresh_token("h-bob") == make_token("h-bob", username="bob")
    assert store.revoke_refresh_tokens_of(POOL, "alice") == 0
    assert store.revoke_refresh_tokens_of(POOL, "nobody") == 0


def test_a_refresh_token_keeps_its_origin(store: IdentityStore, alice: User) -> None:
    token = replace(make_token("h1"), origin_jti="origin-1")

    store.add_refresh_token(token)

    assert store.get_refresh_token("h1") == token
    assert store.adopt_origin_jti("h1", "origin-2") == "origin-1"
    assert store.get_refresh_token("h1") == token


def test_a_refresh_token_without_an_origin_adopts_the_first_given(
    store: IdentityStore, alice: User
) -> None:
    store.add_refresh_token(make_token("h1"))

    assert store.adopt_origin_jti("h1", "origin-1") == "origin-1"
    assert store.adopt_origin_jti("h1", "origin-2") == "origin-1"
    assert store.get_refresh_token("h1") == replace(make_token("h1"), origin_jti="origin-1")
    assert store.adopt_origin_jti("missing", "origin-3") is None


def test_an_origin_is_revoked_with_its_refresh_token(store: IdentityStore, alice: User) -> None:
    store.add_refresh_token(replace(make_token("h1"), origin_jti="origin-1"))
    store.add_refresh_token(replace(make_token("h2"), origin_jti="origin-2"))
    assert not store.is_origin_revoked("origin-1")

    store.revoke_refresh_token("h1")

    assert store.is_origin_revoked("origin-1")
    assert not store.is_origin_revoked("origin-2")
    assert not store.is_origin_revoked("unknown")


# -- access keys ---------------------------------------------------------------------------


def test_an_access_key_round_trips(store: IdentityStore, alice: User) -> None:
    key = make_key("AKIAIOSFODNN7EXAMPLE")

    assert store.add_access_key(key)

    assert store.get_access_key("AKIAIOSFODNN7EXAMPLE") == key
    assert store.get_access_key("AKIAIOSFODNN7MISSING") is None


def test_an_access_key_id_is_added_once(store: IdentityStore, alice: User) -> None:
    store.add_access_key(make_key("AKIAIOSFODNN7EXAMPLE"))

    assert not store.add_access_key(replace(make_key("AKIAIOSFODNN7EXAMPLE"), secret="other"))
    found = store.get_access_key("AKIAIOSFODNN7EXAMPLE")
    assert found is not None and found.secret == "secret-of-AKIAIOSFODNN7EXAMPLE"


def test_an_access_key_of_a_missing_user_is_not_added(store: IdentityStore, pool: UserPool) -> None:
    assert not store.add_access_key(make_key("AKIAIOSFODNN7EXAMPLE", username="nobody"))


def test_the_access_keys_of_a_user_come_oldest_first(store: IdentityStore, alice: User) -> None:
    store.add_user(make_user("bob"))
    newer = make_key("AKIA0000000000000001", created_at=LATER)
    older = make_key("AKIA0000000000000002", created_at=NOW)
    store.add_access_key(newer)
    store.add_access_key(older)
    store.add_access_key(make_key("AKIA0000000000000000", username="bob"))

    assert store.access_keys_of(POOL, "alice") == [older, newer]
    assert store.access_keys_of(POOL, "nobody") == []


def test_setting_the_status_of_an_access_key(store: IdentityStore, alice: User) -> None:
    store.add_access_key(make_key("AKIAIOSFODNN7EXAMPLE"))

    assert store.set_access_key_status("AKIAIOSFODNN7EXAMPLE", AccessKeyStatus.INACTIVE)

    found = store.get_access_key("AKIAIOSFODNN7EXAMPLE")
    assert found is not None and found.status is AccessKeyStatus.INACTIVE
    assert store.set_access_key_status("AKIAIOSFODNN7EXAMPLE", AccessKeyStatus.ACTIVE)
    found = store.get_access_key("AKIAIOSFODNN7EXAMPLE")
    assert found is not None and found.status is AccessKeyStatus.ACTIVE
    assert not store.set_access_key_status("AKIAIOSFODNN7MISSING", AccessKeyStatus.ACTIVE)


def test_deleting_an_access_key(store: IdentityStore, alice: User) -> None:
    store.add_access_key(make_key("AKIAIOSFODNN7EXAMPLE"))
    store.add_access_key(make_key("AKIAIOSFODNN7OTHERS"))

    assert store.delete_access_key("AKIAIOSFODNN7EXAMPLE")

    assert store.get_access_key("AKIAIOSFODNN7EXAMPLE") is None
    assert [k.access_key_id for k in store.access_keys_of(POOL, "alice")] == ["AKIAIOSFODNN7OTHERS"]
    assert not store.delete_access_key("AKIAIOSFODNN7EXAMPLE")


# -- signing keys --------------------------------------------------------------------------


def test_signing_keys_come_oldest_first_and_a_kid_is_kept_once(store: IdentityStore) -> None:
    newer = SigningKey(kid="a-newer", private_pem="pem-newer", created_at=LATER)
    older = SigningKey(kid="b-older", private_pem="pem-older", created_at=NOW)
    assert store.signing_keys() == []

    store.add_signing_key(newer)
    store.add_signing_key(older)
    store.add_signing_key(replace(older, private_pem="pem-replaced", created_at=LATER))

    assert store.signing_keys() == [older, newer]


# -- the migration -------------------------------------------------------------------------


def test_an_upgrade_from_0005_adds_the_identity_tables(empty_database: Database) -> None:
    empty_database.migrate("0005")
    assert NEW_TABLES.isdisjoint(inspect(empty_database.engine).get_table_names())

    empty_database.migrate("0006")

    assert set(inspect(empty_database.engine).get_table_names()) >= NEW_TABLES
    store = IdentityStore(empty_database)
    assert store.add_pool(make_pool())
    assert store.add_user(make_user())


def test_a_downgrade_to_0005_drops_only_the_identity_tables(database: Database) -> None:
    store = IdentityStore(database)
    store.add_pool(make_pool())
    store.add_user(make_user())
    config = _alembic_config()

    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")

    assert database.current_revision() == "0005"
    tables = set(inspect(database.engine).get_table_names())
    assert NEW_TABLES.isdisjoint(tables)
    assert {"jobs", "executions", "functions", "models"} <= tables
