"""The Map state in Distributed mode, against the Step Functions developer guide.

ItemReader, ItemBatcher and ResultWriter (Map), "Using Map state in Distributed mode" and
"Map Run": each documented rule or example is a case here.
"""

from __future__ import annotations

import asyncio
import csv
import gzip
import hashlib
import io
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.storage.objectstore import ObjectStore, open_store
from modelyard.workflows import validation
from modelyard.workflows.definition import parse_machine
from modelyard.workflows.environment import Environment, ManualClock, MemoryHistory
from modelyard.workflows.errors import StatesError
from modelyard.workflows.interpreter import ExecutionInfo, ExecutionOutcome, ExecutionStatus
from modelyard.workflows.interpreter import Interpreter as WorkflowInterpreter
from modelyard.workflows.item_reader import CSV_DELIMITERS, parse_csv, parse_jsonl
from modelyard.workflows.map_runs import MapRunStatus, MemoryMapRuns
from modelyard.workflows.result_writer import OutputType, result_files
from tests.workflows.machines import ScriptedTasks

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
GET = "arn:aws:states:::s3:getObject"
LIST = "arn:aws:states:::s3:listObjectsV2"
PUT = "arn:aws:states:::s3:putObject"
EXECUTION = "arn:aws:states:us-east-1:000000000000:execution:Machine:"
START = 1_700_000_000.0
START_DATE = "2023-11-14T22:13:20.000Z"
PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
CALL = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}}}
EXCEEDED = "The specified tolerated failure threshold was exceeded"


class Crash(BaseException):
    """The process dying: not an error the workflow sees."""


@dataclass
class Run:
    """One execution of a machine with a distributed Map, and what it left."""

    outcome: ExecutionOutcome
    #: The execution's ARN.
    arn: str
    history: MemoryHistory
    store: ObjectStore
    map_runs: MemoryMapRuns
    calls: list[Any] = field(default_factory=list)

    @property
    def output(self) -> Any:
        return self.outcome.output

    def types(self) -> list[str]:
        return self.history.types()

    def details(self, kind: str) -> Any:
        event = next(event for event in self.history.events if event.type == kind)
        assert event.details is not None
        return event.details[1]

    @property
    def map_run_arn(self) -> str:
        return str(self.details("MapRunStarted")["mapRunArn"])

    @property
    def run_id(self) -> str:
        return self.map_run_arn.rpartition(":")[2]

    def json(self, key: str) -> Any:
        return orjson.loads(self.store.get(key))


def dmap(processor: Mapping[str, Any] = PASS, execution: str = "STANDARD", **fields: Any) -> Any:
    """A machine of one distributed Map state named ``Fan``."""
    config = {"Mode": "DISTRIBUTED", "ExecutionType": execution}
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemProcessor": {"ProcessorConfig": config, **processor},
                **fields,
                "End": True,
            }
        },
    }


def jsonata(definition: dict[str, Any]) -> dict[str, Any]:
    return {"QueryLanguage": "JSONata", **definition}


def execute(
    definition: Mapping[str, Any],
    input: Any = None,
    *,
    store: ObjectStore,
    resources: Mapping[str, Callable[[Any], Any]] | None = None,
    history: MemoryHistory | None = None,
    map_runs: MemoryMapRuns | None = None,
    name: str | None = None,
) -> Run:
    """Run ``definition``; a new execution (a new name) unless ``name`` says which.

    Runs of the same execution share their Map Runs' progress in ``store``: the second
    is a replay, as after a crash.
    """
    name = name or uuid.uuid4().hex
    errors = [d for d in validation.validate(dict(definition)) if d.severity.value == "ERROR"]
    assert not errors, errors
    clock = ManualClock(START)
    tasks = ScriptedTasks(resources=resources or {}, clock=clock)
    history = history if history is not None else MemoryHistory()
    map_runs = map_runs if map_runs is not None else MemoryMapRuns()
    interpreter = WorkflowInterpreter(
        parse_machine(definition),
        Environment(tasks=tasks, clock=clock, history=history, store=store, map_runs=map_runs),
        execution=ExecutionInfo(
            arn=EXECUTION + name,
            name=name,
            state_machine_arn="arn:aws:states:us-east-1:000000000000:stateMachine:Machine",
            state_machine_name="Machine",
            start_time=START,
        ),
    )
    outcome = asyncio.run(interpreter.execute({} if input is None else input))
    return Run(
        outcome=outcome,
        arn=EXECUTION + name,
        history=history,
        store=store,
        map_runs=map_runs,
        calls=tasks.calls,
    )


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_store(str(tmp_path / "store"))


def reader(key: str, resource: str = GET, **config: Any) -> dict[str, Any]:
    return {
        "Resource": resource,
        "ReaderConfig": config,
        "Parameters": {"Bucket": "data", "Key": key},
    }


# -- ItemReader: JSON, JSON Lines --------------------------------------------------------

FACTS = [
    {"verdict": "true", "statement_date": "6/11/2008", "statement_source": "speech"},
    {"verdict": "false", "statement_date": "6/7/2022", "statement_source": "television"},
    {"verdict": "mostly-true", "statement_date": "5/18/2016", "statement_source": "news"},
]


def test_a_json_array_gives_one_child_per_element(store: ObjectStore) -> None:
    store.put("data/jsonDataset/factcheck.json", orjson.dumps(FACTS))
    result = execute(
        dmap(ItemReader=reader("jsonDataset/factcheck.json", InputType="JSON")), store=store
    )
    assert result.output == FACTS
    assert result.map_runs.records[result.map_run_arn].execution_counts.succeeded == 3


def test_a_json_lines_object_gives_one_child_per_line(store: ObjectStore) -> None:
    lines = b"\n".join(orjson.dumps(fact) for fact in FACTS)
    store.put("data/jsonlDataset/factcheck.jsonl", lines.replace(b"\n", b"\n\n") + b"\n")
    result = execute(
        dmap(ItemReader=reader("jsonlDataset/factcheck.jsonl", InputType="JSONL")), store=store
    )
    assert result.output == FACTS


def test_a_gzipped_object_is_read_decompressed(store: ObjectStore) -> None:
    store.put("data/facts.jsonl.gz", gzip.compress(b"\n".join(orjson.dumps(f) for f in FACTS)))
    result = execute(dmap(ItemReader=reader("facts.jsonl.gz", InputType="JSONL")), store=store)
    assert result.output == FACTS


@pytest.mark.parametrize(
    ("body", "config", "cause"),
    [
        (b'{"not": "an array"}', {"InputType": "JSON"}, "must contain a JSON array"),
        (b"[1, 2", {"InputType": "JSON"}, "is not valid JSON"),
        (b'{"a": 1}\n{oops}\n', {"InputType": "JSONL"}, "Line 2 of s3://data/items"),
        (b"a,a\n1,2\n", {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}, "duplicates"),
        (b"\xff\xfe", {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}, "not UTF-8"),
        (b"PAR1", {"InputType": "PARQUET"}, "InputType PARQUET is not supported"),
    ],
)
def test_an_unreadable_dataset_fails_with_item_reader_failed(
    store: ObjectStore, body: bytes, config: dict[str, Any], cause: str
) -> None:
    store.put("data/items", body)
    result = execute(dmap(ItemReader=reader("items", **config)), store=store)
    assert result.outcome.status is ExecutionStatus.FAILED
    assert result.outcome.error == "States.ItemReaderFailed"
    assert cause in (result.outcome.cause or "")
    assert result.types()[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
    assert result.details("MapRunFailed") == {
        "error": "States.ItemReaderFailed",
        "cause": result.outcome.cause,
    }


def test_a_missing_object_fails_with_item_reader_failed(store: ObjectStore) -> None:
    result = execute(dmap(ItemReader=reader("nope.json", InputType="JSON")), store=store)
    assert result.outcome.error == "States.ItemReaderFailed"
    assert result.outcome.cause == (
        "Failed to read s3://data/nope.json: The specified key does not exist."
    )


def test_the_item_reader_can_be_caught(store: ObjectStore) -> None:
    definition = dmap(ItemReader=reader("nope.json", InputType="JSON"))
    fan = definition["States"]["Fan"]
    fan["Catch"] = [{"ErrorEquals": ["States.ItemReaderFailed"], "Next": "Handled"}]
    definition["States"]["Handled"] = {"Type": "Pass", "End": True}
    result = execute(definition, store=store)
    assert result.outcome.status is ExecutionStatus.SUCCEEDED
    assert result.output["Error"] == "States.ItemReaderFailed"


def test_parameters_and_arguments_name_the_object(store: ObjectStore) -> None:
    store.put("data/in/a.json", b"[1, 2]")
    jsonpath = dmap(
        ItemReader={
            "Resource": GET,
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": "$.bucket", "Key.$": "States.Format('in/{}', $.name)"},
        }
    )
    assert execute(jsonpath, {"bucket": "data", "name": "a.json"}, store=store).output == [1, 2]
    argumented = jsonata(
        dmap(
            ItemReader={
                "Resource": GET,
                "ReaderConfig": {"InputType": "JSON"},
                "Arguments": {"Bucket": "{% $states.input.bucket %}", "Key": "in/a.json"},
            }
        )
    )
    assert execute(argumented, {"bucket": "data"}, store=store).output == [1, 2]


# -- ItemReader: CSV ---------------------------------------------------------------------


def test_csv_first_row_headers_make_objects_of_strings(store: ObjectStore) -> None:
    # The guide's ratings.csv, PIPE delimited.
    store.put(
        "data/csvDataset/ratings.csv",
        b"userId|movieId|rating|timestamp\n1|307|3.5|1256677221\n1|481|3.5|1256677456\n",
    )
    result = execute(
        dmap(
            ItemReader=reader(
                "csvDataset/ratings.csv",
                InputType="CSV",
                CSVHeaderLocation="FIRST_ROW",
                CSVDelimiter="PIPE",
            )
        ),
        store=store,
    )
    assert result.output[0] == {
        "rating": "3.5",
        "movieId": "307",
        "userId": "1",
        "timestamp": "1256677221",
    }
    assert len(result.output) == 2


def test_csv_given_headers_read_every_row_as_data(store: ObjectStore) -> None:
    store.put("data/r.csv", b"1,307,3.5,1256677221\n1,481,3.5,1256677456\n1,1091,1.5,1256677471\n")
    result = execute(
        dmap(
            ItemReader=reader(
                "r.csv",
                InputType="CSV",
                CSVHeaderLocation="GIVEN",
                CSVHeaders=["userId", "movieId", "rating", "timestamp"],
            )
        ),
        store=store,
    )
    assert [row["movieId"] for row in result.output] == ["307", "481", "1091"]


@pytest.mark.parametrize("name", sorted(CSV_DELIMITERS))
def test_csv_parsing_follows_the_documented_rules(name: str) -> None:
    d = CSV_DELIMITERS[name]
    text = (
        f"a{d}b{d}c\n"
        f'"x{d}y"{d}"line\nbreak"{d}"say ""hi"""\n'  # quoted delimiter, newline, quotes
        f"C:\\\\Programs{d}\\{d}{d}\\q\n"  # \\ is \, \<sep> is <sep>, \q is q
        f"short\n"  # fewer fields: empty strings
        f"1{d}2{d}3{d}4{d}5\n"  # more fields: the extra ones are skipped
    )
    assert parse_csv(text.encode(), delimiter=d) == [
        {"a": f"x{d}y", "b": "line\nbreak", "c": 'say "hi"'},
        {"a": "C:\\Programs", "b": d, "c": "q"},
        {"a": "short", "b": "", "c": ""},
        {"a": "1", "b": "2", "c": "3"},
    ]


def test_max_items_stops_reading_and_does_not_count_the_header(store: ObjectStore) -> None:
    store.put("data/n.csv", b"n\n" + b"".join(f"{i}\n".encode() for i in range(10)))
    limited = dmap(
        ItemReader=reader("n.csv", InputType="CSV", CSVHeaderLocation="FIRST_ROW", MaxItems=3)
    )
    assert execute(limited, store=store).output == [{"n": "0"}, {"n": "1"}, {"n": "2"}]
    by_path = dmap(
        ItemReader=reader(
            "n.csv", InputType="CSV", CSVHeaderLocation="FIRST_ROW", MaxItemsPath="$.most"
        )
    )
    assert len(execute(by_path, {"most": 4}, store=store).output) == 4
    unlimited = dmap(
        ItemReader=reader("n.csv", InputType="CSV", CSVHeaderLocation="FIRST_ROW", MaxItems=0)
    )
    assert len(execute(unlimited, store=store).output) == 10
    expression = jsonata(
        dmap(
            ItemReader={
                "Resource": GET,
                "ReaderConfig": {
                    "InputType": "CSV",
                    "CSVHeaderLocation": "FIRST_ROW",
                    "MaxItems": "{% $states.input.most + 1 %}",
                },
                "Arguments": {"Bucket": "data", "Key": "n.csv"},
            }
        )
    )
    assert len(execute(expression, {"most": 1}, store=store).output) == 2
    bad = execute(by_path, {"most": "lots"}, store=store)
    assert bad.outcome.error == "States.Runtime"


# -- ItemReader: manifests and listings --------------------------------------------------


def test_an_s3_inventory_manifest_reads_its_data_files(store: ObjectStore) -> None:
    inventory = (
        b'"source-bucket","csvDataset/","0","2022-11-16T00:27:19.000Z"\n'
        b'"source-bucket","csvDataset/titles.csv","3399671","2022-11-16T00:29:32.000Z"\n'
    )
    store.put("inventory/dest/data/20e55de8.csv.gz", gzip.compress(inventory))
    manifest = {
        "sourceBucket": "source-bucket",
        "destinationBucket": "arn:aws:s3:::inventory",
        "version": "2016-11-30",
        "creationTimestamp": "1668560400000",
        "fileFormat": "CSV",
        "fileSchema": "Bucket, Key, Size, LastModifiedDate",
        "files": [{"key": "dest/data/20e55de8.csv.gz", "size": 7300, "MD5checksum": "a7"}],
    }
    store.put("data/dest/manifest.json", orjson.dumps(manifest))
    result = execute(
        dmap(ItemReader=reader("dest/manifest.json", InputType="MANIFEST")), store=store
    )
    assert result.output[1] == {
        "LastModifiedDate": "2022-11-16T00:29:32.000Z",
        "Bucket": "source-bucket",
        "Size": "3399671",
        "Key": "csvDataset/titles.csv",
    }
    assert len(result.output) == 2


def test_an_athena_manifest_reads_its_files_and_names_each_items_source(
    store: ObjectStore,
) -> None:
    store.put("data/q/part-1.jsonl", b'{"a": 1}\n{"a": 2}\n')
    store.put("data/q/part-2.jsonl", b'{"a": 3}\n')
    store.put("data/q/query-manifest.csv", b"s3://data/q/part-1.jsonl\ns3://data/q/part-2.jsonl\n")
    result = execute(
        dmap(
            ItemReader=reader(
                "q/query-manifest.csv", ManifestType="ATHENA_DATA", InputType="JSONL"
            ),
            ItemSelector={"a.$": "$$.Map.Item.Value.a", "from.$": "$$.Map.Item.Source"},
        ),
        store=store,
    )
    assert result.output == [
        {"a": 1, "from": "s3://data/q/part-1.jsonl"},
        {"a": 2, "from": "s3://data/q/part-1.jsonl"},
        {"a": 3, "from": "s3://data/q/part-2.jsonl"},
    ]


def test_list_objects_gives_each_objects_metadata(store: ObjectStore) -> None:
    store.put("data/processData/images/b.jpg", b"bbbb")
    store.put("data/processData/images/a.jpg", b"aa")
    store.put("data/processData10/c.txt", b"c")
    store.put("data/other/d.txt", b"d")
    listing = dmap(
        ItemReader={"Resource": LIST, "Parameters": {"Bucket": "data", "Prefix": "processData"}}
    )
    result = execute(listing, store=store)
    # A prefix is a string, not a folder: processData10/ is listed too; keys come sorted.
    assert [item["Key"] for item in result.output] == [
        "processData/images/a.jpg",
        "processData/images/b.jpg",
        "processData10/c.txt",
    ]
    first = result.output[0]
    assert first == {
        "Etag": f'"{hashlib.md5(b"aa", usedforsecurity=False).hexdigest()}"',
        "Key": "processData/images/a.jpg",
        "LastModified": first["LastModified"],
        "Size": 2,
        "StorageClass": "STANDARD",
    }
    assert isinstance(first["LastModified"], int) and first["LastModified"] > 1_600_000_000
    folder = dmap(
        ItemReader={
            "Resource": LIST,
            "ReaderConfig": {"MaxItems": 1},
            "Parameters": {"Bucket": "data", "Prefix": "processData/"},
        }
    )
    assert [item["Key"] for item in execute(folder, store=store).output] == [
        "processData/images/a.jpg"
    ]


# -- ItemSelector and ItemBatcher --------------------------------------------------------


def test_item_selector_sees_the_index_the_value_and_the_state_input(store: ObjectStore) -> None:
    result = execute(
        dmap(
            ItemsPath="$.items",
            ItemSelector={"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"},
        ),
        {"items": ["a", "b"], "k": 7},
        store=store,
    )
    assert result.output == [{"i": 0, "v": "a", "k": 7}, {"i": 1, "v": "b", "k": 7}]
    assert result.details("MapStateStarted") == {"length": 2}
    jsonata_result = execute(
        jsonata(
            dmap(
                Items="{% $states.input.items %}",
                ItemSelector={"i": "{% $states.context.Map.Item.Index %}"},
            )
        ),
        {"items": ["a", "b"]},
        store=store,
    )
    assert jsonata_result.output == [{"i": 0}, {"i": 1}]


def test_batches_hold_max_items_per_batch_items(store: ObjectStore) -> None:
    # The guide: 1130 nodes, 100 a batch, make 12 batches: 11 of 100 and one of 30.
    store.put("data/nodes.json", orjson.dumps(list(range(1130))))
    result = execute(
        dmap(
            ItemReader=reader("nodes.json", InputType="JSON"),
            ItemBatcher={"MaxItemsPerBatch": 100},
        ),
        store=store,
    )
    # A Pass processor outputs its input: the batches, in order.
    assert [len(batch["Items"]) for batch in result.output] == [100] * 11 + [30]
    assert [item for batch in result.output for item in batch["Items"]] == list(range(1130))
    record = result.map_runs.records[result.map_run_arn]
    assert (record.item_counts.total, record.execution_counts.total) == (1130, 12)


def test_batch_input_is_added_to_each_batch(store: ObjectStore) -> None:
    result = execute(
        dmap(
            ItemsPath="$.facts",
            ItemBatcher={"MaxItemsPerBatch": 2, "BatchInput": {"factCheck.$": "$.when"}},
        ),
        {"facts": FACTS, "when": "December 2022"},
        store=store,
    )
    assert result.output == [
        {"BatchInput": {"factCheck": "December 2022"}, "Items": FACTS[:2]},
        {"BatchInput": {"factCheck": "December 2022"}, "Items": FACTS[2:]},
    ]


def test_batches_stay_within_max_input_bytes_per_batch(store: ObjectStore) -> None:
    items = [{"n": index} for index in range(10)]
    result = execute(
        dmap(ItemsPath="$.items", ItemBatcher={"MaxInputBytesPerBatchPath": "$.bytes"}),
        {"items": items, "bytes": 40},
        store=store,
    )
    # {"Items":[]} is 12 bytes and each {"n":i} 7 plus a comma: 3 items make 35, 4 make 43.
    assert [len(batch["Items"]) for batch in result.output] == [3, 3, 3, 1]
    assert all(len(orjson.dumps(batch)) <= 40 for batch in result.output)
    assert [item for batch in result.output for item in batch["Items"]] == items


def test_batching_without_a_byte_limit_stops_at_256_kib(store: ObjectStore) -> None:
    store.put("data/big.json", orjson.dumps(["x" * 100_000] * 5))
    result = execute(
        dmap(
            ItemReader=reader("big.json", InputType="JSON"),
            ItemBatcher={"MaxItemsPerBatch": 10},
            ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out"}},
        ),
        store=store,
    )
    record = result.map_runs.records[result.map_run_arn]
    # Two 100 kB items fit in 256 KiB, a third does not: batches of 2, 2 and 1.
    assert record.execution_counts.total == 3
    written = result.json(f"out/{result.run_id}/SUCCEEDED_0.json")
    assert [len(orjson.loads(e["Input"])["Items"]) for e in written] == [2, 2, 1]


def test_item_selector_applies_before_batching(store: ObjectStore) -> None:
    result = execute(
        dmap(
            ItemsPath="$.items",
            ItemSelector={"at.$": "$$.Map.Item.Index"},
            ItemBatcher={"MaxItemsPerBatch": 2},
        ),
        {"items": ["a", "b", "c"]},
        store=store,
    )
    assert result.output == [{"Items": [{"at": 0}, {"at": 1}]}, {"Items": [{"at": 2}]}]


def test_jsonata_batcher_fields_are_expressions(store: ObjectStore) -> None:
    result = execute(
        jsonata(
            dmap(
                ItemBatcher={
                    "MaxItemsPerBatch": "{% $states.input.size %}",
                    "BatchInput": {"total": "{% $count($states.input.items) %}"},
                },
                Items="{% $states.input.items %}",
            )
        ),
        {"items": [1, 2, 3], "size": 2},
        store=store,
    )
    assert result.output == [
        {"BatchInput": {"total": 3}, "Items": [1, 2]},
        {"BatchInput": {"total": 3}, "Items": [3]},
    ]


def test_a_batch_size_that_is_not_a_positive_integer_is_a_runtime_error(
    store: ObjectStore,
) -> None:
    result = execute(
        dmap(ItemsPath="$.items", ItemBatcher={"MaxItemsPerBatchPath": "$.size"}),
        {"items": [1], "size": 0},
        store=store,
    )
    assert result.outcome.error == "States.Runtime"
    assert "positive integer" in (result.outcome.cause or "")


# -- child executions --------------------------------------------------------------------


def test_children_run_with_their_own_history_and_context(store: ObjectStore) -> None:
    processor = {
        "StartAt": "Who",
        "States": {
            "Who": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$$.Execution.Id",
                    "name.$": "$$.Execution.Name",
                    "machine.$": "$$.StateMachine.Id",
                    "input.$": "$$.Execution.Input",
                },
                "End": True,
            }
        },
    }
    result = execute(dmap(processor, ItemsPath="$.items", Label="Fan"), {"items": [5]}, store=store)
    run_id = result.run_id
    name = str(uuid.uuid3(uuid.UUID(run_id), "0"))
    assert result.output == [
        {
            "id": f"arn:aws:states:us-east-1:000000000000:execution:Machine/Fan:{name}",
            "name": name,
            "machine": "arn:aws:states:us-east-1:000000000000:stateMachine:Machine/Fan",
            "input": 5,
        }
    ]
    # Nothing of the children is in the parent's history.
    assert "PassStateEntered" not in result.types()


def test_express_children_have_express_arns(store: ObjectStore) -> None:
    processor = {
        "StartAt": "Who",
        "States": {"Who": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id"}, "End": True}},
    }
    result = execute(dmap(processor, "EXPRESS", ItemsPath="$.items"), {"items": [1]}, store=store)
    assert re.fullmatch(
        r"arn:aws:states:us-east-1:000000000000:express:Machine/Fan:[0-9a-f-]{36}:[0-9a-f-]{36}",
        result.output[0]["id"],
    )


def test_max_concurrency_bounds_children_in_flight(store: ObjectStore) -> None:
    running = {"now": 0, "peak": 0}

    async def resource(payload: Any) -> Any:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        for _ in range(5):
            await asyncio.sleep(0)
        running["now"] -= 1
        return payload

    result = execute(
        dmap(CALL, ItemsPath="$.items", MaxConcurrency=3),
        {"items": list(range(10))},
        store=store,
        resources={FN: resource},
    )
    assert result.output == list(range(10))
    assert running["peak"] == 3


def test_without_max_concurrency_children_all_run_at_once(store: ObjectStore) -> None:
    running = {"now": 0, "peak": 0}

    async def resource(payload: Any) -> Any:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        await asyncio.sleep(0)
        running["now"] -= 1
        return payload

    execute(
        dmap(CALL, ItemsPath="$.items"),
        {"items": list(range(50))},
        store=store,
        resources={FN: resource},
    )
    assert running["peak"] == 50


# -- tolerated failures ------------------------------------------------------------------


def odd_fails(payload: Any) -> Any:
    items = payload["Items"] if isinstance(payload, dict) else [payload]
    if any(item % 2 for item in items):
        raise StatesError("Odd", f"{items} has an odd item")
    return payload


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [
        ({}, ExecutionStatus.FAILED),
        ({"ToleratedFailureCount": 2}, ExecutionStatus.SUCCEEDED),
        ({"ToleratedFailureCount": 1}, ExecutionStatus.FAILED),
        ({"ToleratedFailurePercentage": 40}, ExecutionStatus.SUCCEEDED),
        ({"ToleratedFailurePercentage": 39.9}, ExecutionStatus.FAILED),
        ({"ToleratedFailureCountPath": "$.count"}, ExecutionStatus.SUCCEEDED),
        ({"ToleratedFailurePercentagePath": "$.percent"}, ExecutionStatus.FAILED),
    ],
)
def test_tolerated_failures(
    store: ObjectStore, tolerance: dict[str, Any], status: ExecutionStatus
) -> None:
    result = execute(
        dmap(CALL, ItemsPath="$.items", MaxConcurrency=1, **tolerance),
        {"items": [0, 1, 2, 3, 4], "count": 2, "percent": 10},
        store=store,
        resources={FN: odd_fails},
    )
    assert result.outcome.status is status
    record = result.map_runs.records[result.map_run_arn]
    if status is ExecutionStatus.FAILED:
        assert (result.outcome.error, result.outcome.cause) == (
            "States.ExceedToleratedFailureThreshold",
            EXCEEDED,
        )
        assert result.types()[-3:] == ["MapRunFailed", "MapStateFailed", "ExecutionFailed"]
        assert record.status is MapRunStatus.FAILED
    else:
        assert result.output[0] == 0
        # A failed child is reported as its execution, whatever the transformation.
        failed = result.output[1]
        assert (failed["Status"], failed["Error"], failed["Input"]) == ("FAILED", "Odd", "1")
        assert record.item_counts.failed == 2
        assert record.status is MapRunStatus.SUCCEEDED


def test_a_failed_batch_fails_all_its_items(store: ObjectStore) -> None:
    result = execute(
        dmap(
            CALL,
            ItemsPath="$.items",
            ItemBatcher={"MaxItemsPerBatch": 3},
            ToleratedFailureCount=3,
        ),
        {"items": [0, 2, 4, 1, 6, 8, 10, 12]},
        store=store,
        resources={FN: odd_fails},
    )
    assert result.outcome.status is ExecutionStatus.SUCCEEDED
    record = result.map_runs.records[result.map_run_arn]
    assert record.item_counts.failed == 3
    assert record.execution_counts.failed == 1
    too_few = execute(
        dmap(
            CALL, ItemsPath="$.items", ItemBatcher={"MaxItemsPerBatch": 3}, ToleratedFailureCount=2
        ),
        {"items": [0, 2, 4, 1, 6, 8]},
        store=store,
        resources={FN: odd_fails},
    )
    assert too_few.outcome.error == "States.ExceedToleratedFailureThreshold"


# -- ResultWriter ------------------------------------------------------------------------


def entry(result: Run, index: int, input: Any, output: Any = None, **failure: Any) -> Any:
    """A child execution as the result files report it (the NONE transformation)."""
    name = str(uuid.uuid3(uuid.UUID(result.run_id), str(index)))
    out: dict[str, Any] = {}
    if failure:
        out.update({"Cause": failure["cause"], "Error": failure["error"]})
    out["ExecutionArn"] = f"arn:aws:states:us-east-1:000000000000:execution:Machine/Fan:{name}"
    out["Input"] = orjson.dumps(input).decode()
    out["InputDetails"] = {"Included": True}
    out["Name"] = name
    if not failure:
        out["Output"] = orjson.dumps(output).decode()
    out["OutputDetails"] = {"Included": True}
    out["RedriveCount"] = 0
    if failure:
        out["RedriveStatus"] = "REDRIVABLE"
    else:
        out["RedriveStatus"] = "NOT_REDRIVABLE"
        out["RedriveStatusReason"] = "Execution is SUCCEEDED and cannot be redriven"
    out["StartDate"] = START_DATE
    out["StateMachineArn"] = "arn:aws:states:us-east-1:000000000000:stateMachine:Machine/Fan"
    out["Status"] = "FAILED" if failure else "SUCCEEDED"
    out["StopDate"] = START_DATE
    return out


def test_result_writer_exports_results_and_a_manifest(store: ObjectStore) -> None:
    result = execute(
        dmap(
            CALL,
            ItemsPath="$.items",
            MaxConcurrency=1,
            ToleratedFailureCount=5,
            ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out", "Prefix": "jobs"}},
        ),
        {"items": [0, 1, 2]},
        store=store,
        resources={FN: odd_fails},
    )
    folder = f"jobs/{result.run_id}"
    assert result.output == {
        "MapRunArn": result.map_run_arn,
        "ResultWriterDetails": {"Bucket": "out", "Key": f"{folder}/manifest.json"},
    }
    assert re.fullmatch(
        r"arn:aws:states:us-east-1:000000000000:mapRun:Machine/Fan:[0-9a-f-]{36}",
        result.map_run_arn,
    )
    succeeded = store.get(f"out/{folder}/SUCCEEDED_0.json")
    failed = store.get(f"out/{folder}/FAILED_0.json")
    assert result.json(f"out/{folder}/manifest.json") == {
        "DestinationBucket": "out",
        "MapRunArn": result.map_run_arn,
        "ResultFiles": {
            "FAILED": [{"Key": f"{folder}/FAILED_0.json", "Size": len(failed)}],
            "PENDING": [],
            "SUCCEEDED": [{"Key": f"{folder}/SUCCEEDED_0.json", "Size": len(succeeded)}],
        },
    }
    assert orjson.loads(succeeded) == [entry(result, 0, 0, 0), entry(result, 2, 2, 2)]
    assert orjson.loads(failed) == [entry(result, 1, 1, error="Odd", cause="[1] has an odd item")]
    record = result.map_runs.records[result.map_run_arn]
    assert record.item_counts.results_written == 3


def test_a_failed_run_exports_pending_children_too(store: ObjectStore) -> None:
    result = execute(
        dmap(
            CALL,
            ItemsPath="$.items",
            MaxConcurrency=1,
            ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out"}},
        ),
        {"items": [0, 1, 2, 4]},
        store=store,
        resources={FN: odd_fails},
    )
    assert result.outcome.error == "States.ExceedToleratedFailureThreshold"
    folder = result.run_id
    manifest = result.json(f"out/{folder}/manifest.json")
    assert [file["Key"] for file in manifest["ResultFiles"]["PENDING"]] == [
        f"{folder}/PENDING_0.json"
    ]
    assert result.json(f"out/{folder}/PENDING_0.json") == [
        {"Input": "2", "InputDetails": {"Included": True}, "Status": "PENDING"},
        {"Input": "4", "InputDetails": {"Included": True}, "Status": "PENDING"},
    ]
    record = result.map_runs.records[result.map_run_arn]
    assert (record.item_counts.succeeded, record.item_counts.failed) == (1, 1)
    assert record.item_counts.pending == 2


@pytest.mark.parametrize(
    ("transformation", "expected"),
    [
        ("COMPACT", [[{"id": 0}, {"id": 1}], [{"id": 2}]]),
        ("FLATTEN", [{"id": 0}, {"id": 1}, {"id": 2}]),
    ],
)
def test_writer_config_transforms_what_is_exported(
    store: ObjectStore, transformation: str, expected: Any
) -> None:
    processor = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "OutputPath": "$.Items", "End": True}},
    }
    result = execute(
        dmap(
            processor,
            ItemsPath="$.items",
            ItemBatcher={"MaxItemsPerBatch": 2},
            ResultWriter={
                "Resource": PUT,
                "Parameters": {"Bucket": "out", "Prefix": "p/"},
                "WriterConfig": {"Transformation": transformation, "OutputType": "JSON"},
            },
        ),
        {"items": [{"id": 0}, {"id": 1}, {"id": 2}]},
        store=store,
    )
    assert result.json(f"out/p/{result.run_id}/SUCCEEDED_0.json") == expected


def test_writer_config_alone_shapes_the_state_output(store: ObjectStore) -> None:
    processor = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": [1, 2], "End": True}}}
    flattened = execute(
        dmap(
            processor,
            ItemsPath="$.items",
            ResultWriter={"WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}},
        ),
        {"items": ["a", "b"]},
        store=store,
    )
    assert flattened.output == [1, 2, 1, 2]
    described = execute(
        dmap(
            processor,
            ItemsPath="$.items",
            ResultWriter={"WriterConfig": {"Transformation": "NONE", "OutputType": "JSON"}},
        ),
        {"items": ["a"]},
        store=store,
    )
    assert described.output == [entry(described, 0, "a", [1, 2])]


def test_jsonl_output_type_writes_json_lines(store: ObjectStore) -> None:
    result = execute(
        jsonata(
            dmap(
                Items="{% $states.input.items %}",
                ResultWriter={
                    "Resource": PUT,
                    "Arguments": {"Bucket": "out", "Prefix": "{% 'l' %}"},
                    "WriterConfig": {"Transformation": "COMPACT", "OutputType": "JSONL"},
                },
            )
        ),
        {"items": [{"a": 1}, [2]]},
        store=store,
    )
    assert store.get(f"out/l/{result.run_id}/SUCCEEDED_0.json") == b'{"a":1}\n[2]\n'


def test_result_files_split_past_their_size_limit() -> None:
    entries = [{"n": index} for index in range(5)]
    files = result_files(entries, OutputType.JSON, limit=20)
    assert [orjson.loads(body) for body in files] == [entries[:2], entries[2:4], entries[4:]]
    assert all(len(body) <= 20 for body in files)
    lines = result_files(entries, OutputType.JSONL, limit=16)
    assert lines[0] == b'{"n":0}\n{"n":1}\n'
    assert len(lines) == 3
    assert result_files([], OutputType.JSON) == []


def test_a_write_that_fails_is_result_writer_failed(store: ObjectStore) -> None:
    result = execute(
        dmap(
            ItemsPath="$.items",
            ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out", "Prefix": "a//b"}},
        ),
        {"items": [1]},
        store=store,
    )
    assert result.outcome.error == "States.ResultWriterFailed"
    assert "s3://out/a//b/" in (result.outcome.cause or "")
    no_bucket = execute(
        dmap(
            ItemsPath="$.items", ResultWriter={"Resource": PUT, "Parameters": {"Bucket.$": "$.b"}}
        ),
        {"items": [1], "b": 3},
        store=store,
    )
    assert no_bucket.outcome.error == "States.ResultWriterFailed"


# -- the Map Run -------------------------------------------------------------------------


def test_map_run_events_and_counters(store: ObjectStore) -> None:
    result = execute(
        dmap(ItemsPath="$.items", Label="Fan", MaxConcurrency=4, ToleratedFailurePercentage=5),
        {"items": list(range(5))},
        store=store,
    )
    assert result.types() == [
        "ExecutionStarted",
        "MapStateEntered",
        "MapStateStarted",
        "MapRunStarted",
        "MapRunSucceeded",
        "MapStateSucceeded",
        "MapStateExited",
        "ExecutionSucceeded",
    ]
    assert result.details("MapRunStarted") == {"mapRunArn": result.map_run_arn}
    reports = result.map_runs.reports
    assert (reports[0][0], reports[-1][0]) == ("started", "finished")
    started = reports[0][1]
    assert started.status is MapRunStatus.RUNNING and started.item_counts.total == 0
    final = result.map_runs.records[result.map_run_arn]
    assert final.to_json() == {
        "mapRunArn": result.map_run_arn,
        "executionArn": result.arn,
        "status": "SUCCEEDED",
        "startDate": START,
        "stopDate": START,
        "maxConcurrency": 4,
        "toleratedFailurePercentage": 5.0,
        "toleratedFailureCount": 0,
        "itemCounts": {
            "aborted": 0,
            "failed": 0,
            "pending": 0,
            "resultsWritten": 0,
            "running": 0,
            "succeeded": 5,
            "timedOut": 0,
            "total": 5,
            "failuresNotRedrivable": 0,
            "pendingRedrive": 0,
        },
        "executionCounts": {
            "aborted": 0,
            "failed": 0,
            "pending": 0,
            "resultsWritten": 0,
            "running": 0,
            "succeeded": 5,
            "timedOut": 0,
            "total": 5,
            "failuresNotRedrivable": 0,
            "pendingRedrive": 0,
        },
        "redriveCount": 0,
    }
    progress = [record for kind, record in reports if kind == "progress"]
    assert progress and all(r.item_counts.running <= 4 for r in progress)
    assert any(0 < r.item_counts.succeeded < 5 for r in progress)


def test_the_map_run_is_named_for_the_label_or_the_state(store: ObjectStore) -> None:
    labelled = execute(dmap(ItemsPath="$.i", Label="Orders"), {"i": []}, store=store)
    assert ":mapRun:Machine/Orders:" in labelled.map_run_arn
    named = execute(dmap(ItemsPath="$.i"), {"i": []}, store=store, name="one")
    assert ":mapRun:Machine/Fan:" in named.map_run_arn
    assert named.output == []
    # The same attempt of the same execution names the same Map Run; another, another.
    again = execute(dmap(ItemsPath="$.i"), {"i": []}, store=store, name="one")
    assert again.map_run_arn == named.map_run_arn
    other = execute(dmap(ItemsPath="$.i"), {"i": []}, store=store, name="two")
    assert other.map_run_arn != named.map_run_arn


def test_a_retried_map_state_starts_a_new_map_run(store: ObjectStore) -> None:
    definition = dmap(CALL, ItemsPath="$.items")
    definition["States"]["Fan"]["Retry"] = [
        {"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "MaxAttempts": 1}
    ]
    failures = {"left": 1}

    def flaky(payload: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise StatesError("Flaky", "once")
        return payload

    result = execute(definition, {"items": [1, 2]}, store=store, resources={FN: flaky})
    assert result.output == [1, 2]
    arns = [
        event.details[1]["mapRunArn"]
        for event in result.history.events
        if event.type == "MapRunStarted" and event.details is not None
    ]
    assert len(arns) == 2 and arns[0] != arns[1]
    assert result.types().count("MapRunFailed") == 1


def test_without_a_store_items_from_the_input_still_run() -> None:
    clock = ManualClock(START)
    interpreter = WorkflowInterpreter(
        parse_machine(dmap(ItemsPath="$.items")),
        Environment(tasks=ScriptedTasks(resources={}, clock=clock), clock=clock),
        execution=ExecutionInfo(
            arn=EXECUTION,
            name="run-1",
            state_machine_arn="sm",
            state_machine_name="M",
            start_time=START,
        ),
    )
    outcome = asyncio.run(interpreter.execute({"items": [1, 2]}))
    assert outcome.output == [1, 2]


# -- resume ------------------------------------------------------------------------------


def test_a_crashed_map_run_resumes_without_redoing_finished_batches(store: ObjectStore) -> None:
    store.put("data/items.json", orjson.dumps(list(range(20))))
    definition = dmap(
        CALL,
        ItemReader=reader("items.json", InputType="JSON"),
        ItemBatcher={"MaxItemsPerBatch": 2},
        MaxConcurrency=1,
        ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out"}},
    )
    calls: list[int] = []
    crash = {"after": 4}

    def resource(payload: Any) -> Any:
        first = payload["Items"][0]
        calls.append(first)
        if crash["after"] == 0:
            raise Crash
        crash["after"] -= 1
        return payload["Items"]

    history = MemoryHistory()
    with pytest.raises(Crash):
        execute(definition, store=store, resources={FN: resource}, history=history, name="r")
    before = list(history.events)
    assert calls == [0, 2, 4, 6, 8]

    crash["after"] = 1_000
    resumed = execute(definition, store=store, resources={FN: resource}, history=history, name="r")
    assert resumed.outcome.status is ExecutionStatus.SUCCEEDED
    # Batches 0..3 were done: only the one in flight at the crash ran again.
    assert calls == [0, 2, 4, 6, 8, 8, 10, 12, 14, 16, 18]
    assert history.events[: len(before)] == before
    assert resumed.types().count("MapRunStarted") == 1
    written = resumed.json(f"out/{resumed.run_id}/SUCCEEDED_0.json")
    assert [orjson.loads(e["Output"]) for e in written] == [[n, n + 1] for n in range(0, 20, 2)]
    record = resumed.map_runs.records[resumed.map_run_arn]
    assert record.execution_counts.succeeded == 10
    # What is kept for a replay: the run's outcome; the finished children's parts are gone.
    assert store.list(f".map-runs/{resumed.run_id}") == ["outcome.json"]

    # Replayed once more (a crash after the Map state ended): nothing runs again.
    again = execute(definition, store=store, resources={FN: resource}, history=history, name="r")
    assert again.output == resumed.output
    assert len(calls) == 11
    assert again.map_runs.records[again.map_run_arn].execution_counts.succeeded == 10


# -- round trips -------------------------------------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8", exclude_characters="\x00\ufeff"), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.lists(_TEXT, min_size=1, max_size=4, unique=True),
    values=st.lists(st.lists(_TEXT, min_size=4, max_size=4), max_size=6),
    delimiter=st.sampled_from(sorted(CSV_DELIMITERS.values())),
)
def test_csv_rows_written_then_read_back_are_equal(
    headers: list[str], values: list[list[str]], delimiter: str
) -> None:
    rows = [dict(zip(headers, row, strict=False)) for row in values]
    text = io.StringIO()
    writer = csv.writer(text, delimiter=delimiter, escapechar="\\", lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows([[row[name] for name in headers] for row in rows])
    assert parse_csv(text.getvalue().encode(), delimiter=delimiter) == rows
    given_headers = parse_csv(
        text.getvalue().encode(), delimiter=delimiter, headers=headers, limit=len(rows)
    )
    assert given_headers == [dict(zip(headers, headers, strict=True)), *rows][: len(rows)]


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(items=st.lists(_JSON, max_size=8))
def test_json_lines_written_then_read_back_are_equal(items: list[Any]) -> None:
    body = b"\n".join(orjson.dumps(item) for item in items)
    assert parse_jsonl(body) == items
    assert parse_jsonl(body + b"\n", limit=2) == items[:2]


def test_items_written_to_the_store_come_back_through_a_map_run(store: ObjectStore) -> None:
    rows = [{"a": "1", "b": 'x,"y"'}, {"a": "", "b": "line\nbreak"}]
    text = io.StringIO()
    writer = csv.writer(text, escapechar="\\", lineterminator="\n")
    writer.writerow(["a", "b"])
    writer.writerows([[row["a"], row["b"]] for row in rows])
    store.put("data/rows.csv", text.getvalue().encode())
    result = execute(
        dmap(ItemReader=reader("rows.csv", InputType="CSV", CSVHeaderLocation="FIRST_ROW")),
        store=store,
    )
    assert result.output == rows


# -- more Map Run behaviour --------------------------------------------------------------


def test_children_running_when_the_run_fails_are_aborted(store: ObjectStore) -> None:
    async def resource(payload: Any) -> Any:
        if payload == 0:
            for _ in range(3):
                await asyncio.sleep(0)
            raise StatesError("Broke", "item 0")
        await asyncio.Event().wait()  # never ends by itself

    result = execute(
        dmap(
            CALL,
            ItemsPath="$.items",
            MaxConcurrency=2,
            ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "out"}},
        ),
        {"items": [0, 1, 2]},
        store=store,
        resources={FN: resource},
    )
    assert result.outcome.error == "States.ExceedToleratedFailureThreshold"
    failed = result.json(f"out/{result.run_id}/FAILED_0.json")
    assert [(entry["Status"], entry["Input"]) for entry in failed] == [
        ("FAILED", "0"),
        ("ABORTED", "1"),
    ]
    assert failed[0]["Error"] == "Broke"
    pending = result.json(f"out/{result.run_id}/PENDING_0.json")
    assert [entry["Input"] for entry in pending] == ["2"]
    record = result.map_runs.records[result.map_run_arn]
    counts = record.item_counts
    assert (counts.failed, counts.aborted, counts.pending, counts.running) == (1, 1, 1, 0)
    assert record.status is MapRunStatus.FAILED and record.stop_date == START


def test_each_visit_of_a_map_state_is_a_new_map_run(store: ObjectStore) -> None:
    definition = {
        "StartAt": "Init",
        "States": {
            "Init": {"Type": "Pass", "Assign": {"n": 0}, "Next": "Fan"},
            "Fan": {
                **dmap(ItemsPath="$.items")["States"]["Fan"],
                "ResultPath": None,
                "Assign": {"n.$": "States.MathAdd($n, 1)"},
                "End": False,
                "Next": "Again",
            },
            "Again": {
                "Type": "Choice",
                "Choices": [{"Variable": "$n", "NumericLessThan": 2, "Next": "Fan"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    del definition["States"]["Fan"]["End"]
    result = execute(definition, {"items": [1]}, store=store)
    assert result.outcome.status is ExecutionStatus.SUCCEEDED
    arns = [
        event.details[1]["mapRunArn"]
        for event in result.history.events
        if event.type == "MapRunStarted" and event.details is not None
    ]
    assert len(set(arns)) == 2


def test_jsonata_output_and_assign_see_the_map_result(store: ObjectStore) -> None:
    result = execute(
        jsonata(
            dmap(
                Items="{% $states.input.items %}",
                Assign={"count": "{% $count($states.result) %}"},
                Output={"doubled": "{% $states.result.($ * 2) %}"},
            )
        ),
        {"items": [1, 2, 3]},
        store=store,
    )
    assert result.output == {"doubled": [2, 4, 6]}
    exited = result.details("MapStateExited")
    assert exited["assignedVariables"] == {"count": "3"}


def test_reading_or_writing_without_a_store_fails_the_map_run() -> None:
    clock = ManualClock(START)

    def run(definition: dict[str, Any]) -> ExecutionOutcome:
        interpreter = WorkflowInterpreter(
            parse_machine(definition),
            Environment(tasks=ScriptedTasks(resources={}, clock=clock), clock=clock),
            execution=ExecutionInfo(
                arn=EXECUTION + "x",
                name="x",
                state_machine_arn="sm",
                state_machine_name="M",
                start_time=START,
            ),
        )
        return asyncio.run(interpreter.execute({"items": [1]}))

    assert run(dmap(ItemReader=reader("k", InputType="JSON"))).error == "States.ItemReaderFailed"
    writing = dmap(
        ItemsPath="$.items", ResultWriter={"Resource": PUT, "Parameters": {"Bucket": "o"}}
    )
    assert run(writing).error == "States.ResultWriterFailed"


def test_an_execution_stopped_during_a_map_run_aborts_it(store: ObjectStore) -> None:
    history = MemoryHistory()
    map_runs = MemoryMapRuns()

    async def stop_during_the_map_run() -> None:
        clock = ManualClock(START)
        tasks = ScriptedTasks(resources={FN: lambda payload: asyncio.Event().wait()}, clock=clock)
        interpreter = WorkflowInterpreter(
            parse_machine(dmap(CALL, ItemsPath="$.items")),
            Environment(tasks=tasks, clock=clock, history=history, store=store, map_runs=map_runs),
            execution=ExecutionInfo(
                arn=EXECUTION + "stopped",
                name="stopped",
                state_machine_arn="sm",
                state_machine_name="Machine",
                start_time=START,
            ),
        )
        run = asyncio.ensure_future(interpreter.execute({"items": [1, 2]}))
        while len(tasks.calls) < 2:
            await asyncio.sleep(0)
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)

    asyncio.run(stop_during_the_map_run())
    (record,) = map_runs.records.values()
    assert record.status is MapRunStatus.ABORTED
    assert (record.item_counts.aborted, record.item_counts.running) == (2, 0)
    assert "MapRunFailed" not in history.types()
