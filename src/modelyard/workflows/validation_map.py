"""The rules of Map states: items, item processor, concurrency, reader, batcher and writer."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from modelyard.workflows.validation_model import (
    ARN_PARTITION,
    Code,
    Language,
    wrong_language,
)
from modelyard.workflows.validation_rules import Checker, check_jsonata_object

__all__ = [
    "check_map",
    "check_payload",
]

_LABEL_FORBIDDEN: Final = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]")
_S3_READER: Final = re.compile(ARN_PARTITION + r":states:::s3:(?:getObject|listObjectsV2)\Z")
_S3_WRITER: Final = re.compile(ARN_PARTITION + r":states:::s3:putObject\Z")


def check_map(
    checker: Checker,
    state: Mapping[str, Any],
    fields: Mapping[str, Any],
    location: str,
    language: Language,
    scopes: list[tuple[Mapping[str, Any], str, frozenset[str]]],
) -> None:
    """Check a Map state; add its item processor to ``scopes``."""
    key = checker.one_of(state, ("ItemProcessor", "Iterator"), location)
    if key is not None and checker.typed(state[key], dict, f"{location}/{key}"):
        processor = state[key]
        if "ProcessorConfig" in processor:
            check_processor_config(
                checker, processor["ProcessorConfig"], f"{location}/{key}/ProcessorConfig"
            )
        scopes.append((processor, f"{location}/{key}", frozenset({"ProcessorConfig"})))
    if "ItemsPath" in fields:
        checker.reference_path(fields["ItemsPath"], f"{location}/ItemsPath")
    if "Items" in fields:
        items = fields["Items"]
        if isinstance(items, str):
            checker.expression(items, f"{location}/Items")
        elif checker.typed(items, list, f"{location}/Items"):
            checker.jsonata_value(items, f"{location}/Items")
    checker.exclusive(state, ("ItemSelector", "Parameters"), f"{location}/ItemSelector")
    if "ItemSelector" in fields:
        check_payload(checker, fields["ItemSelector"], f"{location}/ItemSelector", language)
    for field, kind, maximum in (
        ("MaxConcurrency", int, None),
        ("ToleratedFailurePercentage", float, 100),
        ("ToleratedFailureCount", int, None),
    ):
        checker.exclusive(state, (field, f"{field}Path"), f"{location}/{field}")
        if field in fields:
            checker.number(
                fields[field], f"{location}/{field}", kind=kind, maximum=maximum, language=language
            )
        if f"{field}Path" in fields:
            checker.reference_path(fields[f"{field}Path"], f"{location}/{field}Path")
    if "Label" in fields:
        check_label(checker, fields["Label"], f"{location}/Label")
    if "ItemReader" in fields:
        check_item_reader(checker, fields["ItemReader"], f"{location}/ItemReader", language)
    if "ItemBatcher" in fields:
        check_item_batcher(checker, fields["ItemBatcher"], f"{location}/ItemBatcher", language)
    if "ResultWriter" in fields:
        check_result_writer(checker, fields["ResultWriter"], f"{location}/ResultWriter", language)


def check_payload(checker: Checker, value: object, location: str, language: Language) -> None:
    """Check a payload: a template in JSONPath; an object or an expression in JSONata."""
    if language is Language.JSONATA:
        check_jsonata_object(checker, value, location)
    elif checker.typed(value, dict, location):
        checker.template(value, location)


def check_processor_config(checker: Checker, config: object, location: str) -> None:
    """Check a Map's ``ProcessorConfig``: INLINE, or DISTRIBUTED with an ExecutionType."""
    if not checker.typed(config, dict, location):
        return
    assert isinstance(config, Mapping)
    checker.supported(config, {"Mode", "ExecutionType"}, location)
    if "Mode" in config:
        checker.enum(config["Mode"], ("INLINE", "DISTRIBUTED"), f"{location}/Mode")
    if config.get("Mode") == "DISTRIBUTED":
        if checker.required(config, ("ExecutionType",), location):
            checker.enum(
                config["ExecutionType"], ("STANDARD", "EXPRESS"), f"{location}/ExecutionType"
            )
    elif "ExecutionType" in config:
        checker.schema("Field 'ExecutionType' is not supported", location)


def check_label(checker: Checker, label: object, location: str) -> None:
    """Check a Map ``Label``: short, plain and unique in the state machine."""
    if not checker.typed(label, str, location):
        return
    assert isinstance(label, str)
    if len(label) > 40 or _LABEL_FORBIDDEN.search(label):
        checker.error(
            Code.INVALID_LABEL_NAME,
            f"Label '{label}' must be at most 40 characters long and may not contain whitespace, "
            "brackets, wildcards, special characters or control characters",
            location,
        )
    if label in checker.labels:
        checker.error(Code.DUPLICATE_LABEL_NAME, f"Duplicate Label name: {label}", location)
    checker.labels.add(label)


def _check_sub_object(
    checker: Checker,
    value: object,
    location: str,
    language: Language,
    allowed: frozenset[str],
) -> Mapping[str, Any] | None:
    """An ItemReader, ItemBatcher or ResultWriter: fields of its language only."""
    if not checker.typed(value, dict, location):
        return None
    assert isinstance(value, Mapping)
    payloads = {"Parameters", "Arguments"}
    checker.supported(value, allowed | payloads, location)
    for field in value:
        if (
            language is Language.JSONATA
            and (field == "Parameters" or (field.endswith("Path") and field in allowed))
        ) or (language is Language.JSONPATH and field == "Arguments"):
            checker.schema(wrong_language(language, field), f"{location}/{field}")
    payload = "Parameters" if language is Language.JSONPATH else "Arguments"
    if payload in value:
        check_payload(checker, value[payload], f"{location}/{payload}", language)
    return value


def check_item_reader(checker: Checker, value: object, location: str, language: Language) -> None:
    """Check a distributed Map's ``ItemReader``: an S3 read and how to parse what it reads."""
    reader = _check_sub_object(
        checker, value, location, language, frozenset({"Resource", "ReaderConfig"})
    )
    if reader is None:
        return
    if checker.required(reader, ("Resource",), location):
        _check_s3_resource(checker, reader["Resource"], f"{location}/Resource", _S3_READER)
    if "ReaderConfig" not in reader:
        return
    where = f"{location}/ReaderConfig"
    config = reader["ReaderConfig"]
    if not checker.typed(config, dict, where):
        return
    enums = {
        "InputType": ("CSV", "JSON", "JSONL", "MANIFEST", "PARQUET"),
        "CSVHeaderLocation": ("FIRST_ROW", "GIVEN"),
        "CSVDelimiter": ("COMMA", "PIPE", "SEMICOLON", "SPACE", "TAB"),
        "ManifestType": ("ATHENA_DATA", "S3_INVENTORY"),
    }
    checker.supported(config, {*enums, "CSVHeaders", "MaxItems", "MaxItemsPath"}, where)
    for field, choices in enums.items():
        if field in config:
            checker.enum(config[field], choices, f"{where}/{field}")
    if config.get("InputType") == "CSV":
        checker.required(config, ("CSVHeaderLocation",), where)
    headers = config.get("CSVHeaders")
    if (
        config.get("CSVHeaderLocation") == "GIVEN"
        and checker.required(config, ("CSVHeaders",), where)
        and checker.typed(headers, list, f"{where}/CSVHeaders")
    ):
        for index, header in enumerate(headers):
            checker.typed(header, str, f"{where}/CSVHeaders[{index}]")
    checker.exclusive(config, ("MaxItems", "MaxItemsPath"), f"{where}/MaxItems")
    if "MaxItems" in config:
        checker.number(config["MaxItems"], f"{where}/MaxItems", language=language)
    if "MaxItemsPath" in config and language is Language.JSONPATH:
        checker.reference_path(config["MaxItemsPath"], f"{where}/MaxItemsPath")


def _check_s3_resource(
    checker: Checker, resource: object, location: str, pattern: re.Pattern[str]
) -> None:
    if checker.typed(resource, str, location) and pattern.match(str(resource)) is None:
        checker.schema(
            f"The resource provided {resource} is not recognized. The value is not a valid "
            "resource ARN, or the resource is not available in this region.",
            location,
        )


def check_item_batcher(checker: Checker, value: object, location: str, language: Language) -> None:
    """Check a Map's ``ItemBatcher``: batch limits and the input added to each batch."""
    limits = {"MaxItemsPerBatch": None, "MaxInputBytesPerBatch": 262_144}
    allowed = frozenset({*limits, *(f"{field}Path" for field in limits), "BatchInput"})
    batcher = _check_sub_object(checker, value, location, language, allowed)
    if batcher is None:
        return
    for field, maximum in limits.items():
        checker.exclusive(batcher, (field, f"{field}Path"), f"{location}/{field}")
        if field in batcher:
            checker.number(
                batcher[field], f"{location}/{field}", minimum=1, maximum=maximum, language=language
            )
        if f"{field}Path" in batcher and language is Language.JSONPATH:
            checker.reference_path(batcher[f"{field}Path"], f"{location}/{field}Path")
    if "BatchInput" in batcher:
        check_payload(checker, batcher["BatchInput"], f"{location}/BatchInput", language)


def check_result_writer(checker: Checker, value: object, location: str, language: Language) -> None:
    """Check a distributed Map's ``ResultWriter``: where and how results are written."""
    writer = _check_sub_object(
        checker, value, location, language, frozenset({"Resource", "WriterConfig"})
    )
    if writer is None:
        return
    if "Resource" not in writer and "WriterConfig" not in writer:
        checker.schema(
            "This object should have at least one of the following fields: "
            "[Resource, WriterConfig]",
            location,
        )
    if "Resource" in writer:
        _check_s3_resource(checker, writer["Resource"], f"{location}/Resource", _S3_WRITER)
        payload = "Parameters" if language is Language.JSONPATH else "Arguments"
        checker.required(writer, (payload,), location)
    if "WriterConfig" in writer:
        where = f"{location}/WriterConfig"
        config = writer["WriterConfig"]
        if checker.typed(config, dict, where):
            enums = {
                "Transformation": ("NONE", "COMPACT", "FLATTEN"),
                "OutputType": ("JSON", "JSONL"),
            }
            checker.supported(config, set(enums), where)
            checker.required(config, tuple(enums), where)
            for field, choices in enums.items():
                if field in config:
                    checker.enum(config[field], choices, f"{where}/{field}")
