"""Function names and ARNs: what a ``FunctionName`` may be and what it refers to (the forms
of the Lambda API reference), with hypothesis properties for the parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.functions import FunctionArns, FunctionNotFound, FunctionRef, InvalidFunctionName

ARNS = FunctionArns(region="us-east-1", account_id="123456789012")

names = st.from_regex(r"[a-zA-Z0-9_-]{1,64}", fullmatch=True)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        # The API reference's name formats, each with and without a qualifier.
        ("my-function", FunctionRef(name="my-function")),
        ("my-function:$LATEST", FunctionRef(name="my-function", qualifier="$LATEST")),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:my-function",
            FunctionRef(name="my-function"),
        ),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:my-function:$LATEST",
            FunctionRef(name="my-function", qualifier="$LATEST"),
        ),
        ("123456789012:function:my_function", FunctionRef(name="my_function")),
        ("x" * 64, FunctionRef(name="x" * 64)),
    ],
)
def test_names_and_arns_of_this_account_resolve(reference: str, expected: FunctionRef) -> None:
    assert ARNS.resolve(reference) == expected


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("my-function:1", "arn:aws:lambda:us-east-1:123456789012:function:my-function:1"),
        ("my-function:prod", "arn:aws:lambda:us-east-1:123456789012:function:my-function:prod"),
        (
            "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "arn:aws:lambda:eu-west-1:123456789012:function:f",
        ),
        ("999999999999:function:f", "arn:aws:lambda:us-east-1:999999999999:function:f"),
    ],
)
def test_other_versions_regions_and_accounts_are_not_found(reference: str, message: str) -> None:
    with pytest.raises(FunctionNotFound) as raised:
        ARNS.resolve(reference)

    assert raised.value.message == f"Function not found: {message}"


@pytest.mark.parametrize(
    "reference",
    ["", "a b", "a/b", "x" * 65, "arn:aws:s3:::bucket", "f:", "f:a:b", "é", "a" * 300],
)
def test_what_no_function_can_be_called_is_a_validation_error(reference: str) -> None:
    with pytest.raises(InvalidFunctionName) as raised:
        ARNS.resolve(reference)

    assert raised.value.message.startswith("1 validation error detected: Value '")
    assert "at 'functionName' failed to satisfy constraint" in raised.value.message


def test_an_arn_spells_the_region_account_and_name() -> None:
    assert ARNS.of("resize") == "arn:aws:lambda:us-east-1:123456789012:function:resize"
    assert ARNS.of("resize", "$LATEST").endswith(":function:resize:$LATEST")


@given(names)
def test_every_name_and_its_arn_resolve_to_it(name: str) -> None:
    assert ARNS.resolve(name) == FunctionRef(name=name)
    assert ARNS.resolve(ARNS.of(name)) == FunctionRef(name=name)
    assert ARNS.resolve(ARNS.of(name, "$LATEST")) == FunctionRef(name=name, qualifier="$LATEST")


@given(st.text(max_size=300))
def test_any_text_resolves_or_is_refused_in_the_domains_words(reference: str) -> None:
    try:
        found = ARNS.resolve(reference)
    except (InvalidFunctionName, FunctionNotFound):
        return
    assert 1 <= len(found.name) <= 64
    assert found.name in reference
