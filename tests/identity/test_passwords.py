"""Password policies with Cognito's messages, argon2id hashes, and generated passwords."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidRequest
from modelyard.identity.passwords import (
    InvalidPassword,
    PasswordPolicy,
    Passwords,
    check_password,
    generate_password,
)

PREFIX = "Password did not conform with policy: "
#: Cognito's symbols, as its documentation lists them.
COGNITO_SYMBOLS = [
    "^",
    "$",
    "*",
    ".",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "?",
    '"',
    "!",
    "@",
    "#",
    "%",
    "&",
    "/",
    "\\",
    ",",
    ">",
    "<",
    "'",
    ":",
    ";",
    "|",
    "_",
    "~",
    "`",
    "=",
    "+",
    "-",
]


@pytest.fixture
def passwords() -> Passwords:
    """Argon2id at the lowest cost argon2 allows, so hashing is quick."""
    return Passwords(time_cost=1, memory_cost_kib=8)


@pytest.mark.parametrize(
    ("password", "message"),
    [
        # Length is checked first, whatever else is missing.
        ("", "Password not long enough"),
        ("Ab1!xyz", "Password not long enough"),
        # Then the classes, in Cognito's order: the first one missing is reported.
        ("abcdefgh", "Password must have uppercase characters"),
        ("abcdefg1!", "Password must have uppercase characters"),
        ("ABCDEFGH", "Password must have lowercase characters"),
        ("ABCDEFG1!", "Password must have lowercase characters"),
        ("Abcdefgh", "Password must have numeric characters"),
        ("Abcdefgh!", "Password must have numeric characters"),
        ("Abcdefg1", "Password must have symbol characters"),
        ("Abcdef 1", "Password must have symbol characters"),
        # Letters outside ASCII are not counted, as in Cognito.
        ("ÄÖÜbcdef1!", "Password must have uppercase characters"),
        ("ABCDÉFG1!", "Password must have lowercase characters"),
    ],
)
def test_the_first_unmet_rule_is_reported_with_cognitos_message(
    password: str, message: str
) -> None:
    with pytest.raises(InvalidPassword) as raised:
        check_password(password, PasswordPolicy())

    assert raised.value.message == PREFIX + message
    assert str(raised.value) == PREFIX + message


@pytest.mark.parametrize("password", ["Abcdef1!", "Abcdefg1-", "  Ab1~  ", "Pässwörd1!"])
def test_a_password_meeting_the_default_policy_passes(password: str) -> None:
    check_password(password, PasswordPolicy())


@pytest.mark.parametrize("symbol", COGNITO_SYMBOLS)
def test_each_of_cognitos_symbols_counts_as_a_symbol(symbol: str) -> None:
    check_password(f"Abcdefg1{symbol}", PasswordPolicy())


def test_cognitos_symbol_list_has_32_characters() -> None:
    # Guards the table above: a typo there would make the parametrized test vacuous.
    assert len(set(COGNITO_SYMBOLS)) == 32


@pytest.mark.parametrize(
    ("policy", "password"),
    [
        (PasswordPolicy(minimum_length=6), "Abcd1!"),
        (PasswordPolicy(require_uppercase=False), "abcdef1!"),
        (PasswordPolicy(require_lowercase=False), "ABCDEF1!"),
        (PasswordPolicy(require_numbers=False), "Abcdefg!"),
        (PasswordPolicy(require_symbols=False), "Abcdefg1"),
        (
            PasswordPolicy(
                require_uppercase=False,
                require_lowercase=False,
                require_numbers=False,
                require_symbols=False,
            ),
            "        ",
        ),
    ],
)
def test_rules_the_policy_does_not_require_are_not_checked(
    policy: PasswordPolicy, password: str
) -> None:
    check_password(password, policy)


def test_a_longer_minimum_length_is_enforced() -> None:
    policy = PasswordPolicy(minimum_length=12)

    with pytest.raises(InvalidPassword, match="not long enough"):
        check_password("Abcdefghi1!", policy)
    check_password("Abcdefghij1!", policy)


def test_invalid_password_is_an_invalid_request() -> None:
    error = InvalidPassword()

    assert isinstance(error, InvalidRequest)
    assert error.message == "The password does not conform to the user pool's password policy."


def test_the_default_policy_is_cognitos() -> None:
    assert PasswordPolicy().to_cognito() == {
        "MinimumLength": 8,
        "RequireUppercase": True,
        "RequireLowercase": True,
        "RequireNumbers": True,
        "RequireSymbols": True,
        "TemporaryPasswordValidityDays": 7,
    }


def test_a_policy_reads_cognitos_shape() -> None:
    policy = PasswordPolicy.from_cognito(
        {
            "MinimumLength": 12,
            "RequireUppercase": False,
            "RequireLowercase": True,
            "RequireNumbers": False,
            "RequireSymbols": True,
            "TemporaryPasswordValidityDays": 3,
        }
    )

    assert policy == PasswordPolicy(
        minimum_length=12,
        require_uppercase=False,
        require_numbers=False,
        temporary_password_validity_days=3,
    )


def test_keys_missing_from_cognitos_shape_keep_their_defaults() -> None:
    assert PasswordPolicy.from_cognito({"MinimumLength": 10}) == PasswordPolicy(minimum_length=10)
    assert PasswordPolicy.from_cognito({}) == PasswordPolicy()


policies = st.builds(
    PasswordPolicy,
    minimum_length=st.integers(min_value=6, max_value=99),
    require_uppercase=st.booleans(),
    require_lowercase=st.booleans(),
    require_numbers=st.booleans(),
    require_symbols=st.booleans(),
    temporary_password_validity_days=st.integers(min_value=0, max_value=365),
)


@given(policies)
def test_a_policy_survives_cognitos_shape(policy: PasswordPolicy) -> None:
    assert PasswordPolicy.from_cognito(policy.to_cognito()) == policy


@given(policies)
def test_a_generated_password_meets_its_policy(policy: PasswordPolicy) -> None:
    password = generate_password(policy)

    check_password(password, policy)
    assert len(password) == max(policy.minimum_length, 16)


@given(policies)
def test_a_generated_password_is_ascii_without_spaces(policy: PasswordPolicy) -> None:
    # Temporary passwords are typed by people, from an e-mail or a console.
    password = generate_password(policy)

    assert password.isascii()
    assert " " not in password


def test_a_generated_password_meets_the_default_policy_and_is_16_long() -> None:
    password = generate_password(PasswordPolicy())

    check_password(password, PasswordPolicy())
    assert len(password) == 16


def test_generated_passwords_differ() -> None:
    generated = {generate_password(PasswordPolicy()) for _ in range(50)}

    assert len(generated) == 50


def test_a_hash_verifies_its_password_only(passwords: Passwords) -> None:
    password_hash = passwords.hash("Correct horse 1!")

    assert password_hash.startswith("$argon2id$")
    assert "Correct horse" not in password_hash
    assert passwords.verify(password_hash, "Correct horse 1!") is True
    assert passwords.verify(password_hash, "correct horse 1!") is False
    assert passwords.verify(password_hash, "") is False


def test_each_hash_has_its_own_salt(passwords: Passwords) -> None:
    first, second = passwords.hash("same"), passwords.hash("same")

    assert first != second
    assert passwords.verify(first, "same")
    assert passwords.verify(second, "same")


def test_a_unicode_password_round_trips(passwords: Passwords) -> None:
    password_hash = passwords.hash("Pässwörd 🔑 1!")

    assert passwords.verify(password_hash, "Pässwörd 🔑 1!")
    assert not passwords.verify(password_hash, "Passwörd 🔑 1!")


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "not a hash",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    ],
)
def test_a_malformed_hash_verifies_nothing_and_needs_rehash(
    passwords: Passwords, malformed: str
) -> None:
    assert passwords.verify(malformed, "anything") is False
    assert passwords.needs_rehash(malformed) is True


def test_a_hash_with_other_costs_still_verifies_but_needs_rehash(passwords: Passwords) -> None:
    stronger = Passwords(time_cost=2, memory_cost_kib=16)
    password_hash = stronger.hash("secret")

    assert passwords.verify(password_hash, "secret")
    assert passwords.needs_rehash(password_hash) is True
    assert stronger.needs_rehash(password_hash) is False
    assert passwords.needs_rehash(passwords.hash("secret")) is False
