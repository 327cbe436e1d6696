"""Passwords of user-pool users: the pool's policy, argon2id hashes, generated passwords.

The policy and its messages are Cognito's, so a client that shows
``InvalidPasswordException`` messages to its users shows the same text here. Character
classes are ASCII, as Cognito's are: ``A-Z``, ``a-z``, ``0-9`` and the 32 ASCII symbols
(space is not a symbol).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from modelyard.errors import InvalidRequest

__all__ = [
    "SYMBOLS",
    "InvalidPassword",
    "PasswordPolicy",
    "Passwords",
    "check_password",
    "generate_password",
]

#: The characters Cognito counts as symbols (every ASCII punctuation character).
SYMBOLS = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-"

_UPPERCASE = string.ascii_uppercase
_LOWERCASE = string.ascii_lowercase
_NUMBERS = string.digits
_PREFIX = "Password did not conform with policy: "
#: Length of generated passwords when the policy allows shorter ones.
_GENERATED_LENGTH = 16


class InvalidPassword(InvalidRequest):
    """The password does not conform to the user pool's password policy."""


@dataclass(frozen=True, kw_only=True)
class PasswordPolicy:
    """What a user pool asks of its passwords (Cognito's ``Policies.PasswordPolicy``).

    The defaults are Cognito's for a pool created without a policy::

        PasswordPolicy()                                  # 8+ chars, all four classes
        PasswordPolicy(minimum_length=12, require_symbols=False)
    """

    #: The fewest characters a password may have (Cognito allows 6 to 99).
    minimum_length: int = 8
    #: Whether a password needs an ASCII uppercase letter.
    require_uppercase: bool = True
    #: Whether a password needs an ASCII lowercase letter.
    require_lowercase: bool = True
    #: Whether a password needs a digit.
    require_numbers: bool = True
    #: Whether a password needs one of :data:`SYMBOLS`.
    require_symbols: bool = True
    #: Days a temporary password set by an administrator stays usable.
    temporary_password_validity_days: int = 7

    @classmethod
    def from_cognito(cls, policy: Mapping[str, Any]) -> PasswordPolicy:
        """Read Cognito's ``PasswordPolicy`` shape; a missing key keeps its default here."""
        defaults = cls()
        return cls(
            minimum_length=int(policy.get("MinimumLength", defaults.minimum_length)),
            require_uppercase=bool(policy.get("RequireUppercase", defaults.require_uppercase)),
            require_lowercase=bool(policy.get("RequireLowercase", defaults.require_lowercase)),
            require_numbers=bool(policy.get("RequireNumbers", defaults.require_numbers)),
            require_symbols=bool(policy.get("RequireSymbols", defaults.require_symbols)),
            temporary_password_validity_days=int(
                policy.get(
                    "TemporaryPasswordValidityDays", defaults.temporary_password_validity_days
                )
            ),
        )

    def to_cognito(self) -> dict[str, Any]:
        """Write Cognito's ``PasswordPolicy`` shape, as ``DescribeUserPool`` returns it."""
        return {
            "MinimumLength": self.minimum_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
            "TemporaryPasswordValidityDays": self.temporary_password_validity_days,
        }


def check_password(password: str, policy: PasswordPolicy) -> None:
    """Raise :class:`InvalidPassword` unless ``password`` meets ``policy``.

    Checks run in Cognito's order and the first failure is reported, with Cognito's message.
    """
    if len(password) < policy.minimum_length:
        raise InvalidPassword(_PREFIX + "Password not long enough")
    required = (
        (policy.require_uppercase, _UPPERCASE, "uppercase"),
        (policy.require_lowercase, _LOWERCASE, "lowercase"),
        (policy.require_numbers, _NUMBERS, "numeric"),
        (policy.require_symbols, SYMBOLS, "symbol"),
    )
    for is_required, alphabet, name in required:
        if is_required and not any(char in alphabet for char in password):
            raise InvalidPassword(_PREFIX + f"Password must have {name} characters")


class Passwords:
    """Hashes and verifies passwords with argon2id.

    The default costs are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane); tests
    may pass lower ones. Hashes carry their own parameters, so hashes made with other costs
    still verify, and :meth:`needs_rehash` says when to replace them after a login.
    """

    def __init__(
        self, *, time_cost: int = 2, memory_cost_kib: int = 19_456, parallelism: int = 1
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost_kib,
            parallelism=parallelism,
            type=Type.ID,
        )

    def hash(self, password: str) -> str:
        """Hash ``password`` with a fresh salt, in the PHC string format."""
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``password_hash``; False for a malformed hash too."""
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether ``password_hash`` was made with other parameters (or is not a hash)."""
        try:
            return self._hasher.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


def generate_password(policy: PasswordPolicy) -> str:
    """A random password meeting ``policy``, for temporary passwords set by an administrator.

    It has at least one character of every class the policy requires, and is
    ``max(policy.minimum_length, 16)`` characters long.
    """
    length = max(policy.minimum_length, _GENERATED_LENGTH)
    classes = (
        (policy.require_uppercase, _UPPERCASE),
        (policy.require_lowercase, _LOWERCASE),
        (policy.require_numbers, _NUMBERS),
        (policy.require_symbols, SYMBOLS),
    )
    chars = [secrets.choice(alphabet) for is_required, alphabet in classes if is_required]
    everything = _UPPERCASE + _LOWERCASE + _NUMBERS + SYMBOLS
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    # The required characters were placed first: shuffle so their positions are not known.
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)
