"""Model registrations: what POST /models records, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from modelyard.errors import RegistrationExists
from modelyard.storage import Database, ModelRegistration, ModelRegistrations


@pytest.fixture
def registrations(database: Database) -> ModelRegistrations:
    return ModelRegistrations(database)


def test_add_then_get_gives_the_same_registration(registrations: ModelRegistrations) -> None:
    added = registrations.add("churn", "s3://artifacts/churn.tar.gz", {"batch_size": 8})

    assert registrations.get("churn") == added
    assert added.settings == {"batch_size": 8}


def test_created_at_is_utc_and_now(registrations: ModelRegistrations) -> None:
    before = datetime.now(UTC)

    registration = registrations.add("churn", "models/churn")

    stored = registrations.get("churn")
    assert stored is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert before <= stored.created_at <= datetime.now(UTC)
    assert stored.created_at == registration.created_at


def test_settings_may_be_absent(registrations: ModelRegistrations) -> None:
    registrations.add("plain", "models/plain")

    stored = registrations.get("plain")

    assert stored is not None and stored.settings is None


def test_get_of_an_unknown_name_is_none(registrations: ModelRegistrations) -> None:
    assert registrations.get("nobody") is None


def test_adding_a_name_twice_raises_registration_exists(
    registrations: ModelRegistrations,
) -> None:
    registrations.add("churn", "models/churn")

    with pytest.raises(RegistrationExists, match="model 'churn' is already registered"):
        registrations.add("churn", "models/other")
    stored = registrations.get("churn")
    assert stored is not None and stored.url == "models/churn"


def test_list_gives_every_registration_by_name(registrations: ModelRegistrations) -> None:
    for name in ["zeta", "alpha", "mid"]:
        registrations.add(name, f"models/{name}")

    assert [r.name for r in registrations.list()] == ["alpha", "mid", "zeta"]


def test_list_of_an_empty_table_is_empty(registrations: ModelRegistrations) -> None:
    assert registrations.list() == []


def test_remove_forgets_the_registration(registrations: ModelRegistrations) -> None:
    registrations.add("churn", "models/churn")

    assert registrations.remove("churn") is True
    assert registrations.get("churn") is None
    assert registrations.remove("churn") is False


def test_registrations_outlive_the_database_object(database_url: str) -> None:
    first = Database(database_url)
    first.migrate()
    ModelRegistrations(first).add("churn", "models/churn", {"a": [1, 2]})
    first.close()

    second = Database(database_url)
    stored = ModelRegistrations(second).get("churn")
    second.close()

    assert stored is not None and stored.settings == {"a": [1, 2]}


def test_a_registration_is_frozen() -> None:
    registration = ModelRegistration(name="a", url="b", created_at=datetime.now(UTC))

    with pytest.raises(dataclasses.FrozenInstanceError):
        registration.url = "c"  # type: ignore[misc]
