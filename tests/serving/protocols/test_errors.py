"""The one table of statuses: every domain error has its own, and 4xx means the client's."""

from __future__ import annotations

import pytest

from modelyard import errors
from modelyard.serving.protocols.errors import ERROR_STATUS, status_for

DOMAIN_ERRORS = [
    getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type)
    and getattr(errors, name) is not errors.ModelyardError
]


@pytest.mark.parametrize("error", DOMAIN_ERRORS, ids=lambda e: e.__name__)
def test_every_domain_error_has_a_status_of_its_own(error: type[errors.ModelyardError]) -> None:
    assert error in ERROR_STATUS, f"{error.__name__} would fall through to 500"
    assert status_for(error()) == ERROR_STATUS[error]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.RegistrationExists, 409),
        (errors.ModelAlreadyExists, 409),
        (errors.ObjectNotFound, 404),
        (errors.InvalidObjectKey, 400),
        (errors.ObjectStoreError, 503),
        (errors.DatabaseError, 503),
        (errors.ModelUrlNotAllowed, 403),
        (errors.AuthenticationRequired, 401),
        (errors.InvalidModelName, 400),
        (errors.InvalidModelArtifact, 400),
        (errors.ModelQuarantined, 503),
        (errors.RequestNotStarted, 503),
    ],
)
def test_statuses_the_hardening_issue_names(
    error: type[errors.ModelyardError], status: int
) -> None:
    assert status_for(error("x")) == status


def test_client_mistakes_are_4xx() -> None:
    for error in DOMAIN_ERRORS:
        if issubclass(error, errors.InvalidRequest):
            assert 400 <= status_for(error()) < 500, error.__name__
