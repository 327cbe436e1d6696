"""Function tasks: a workflow calls real functions in their worker processes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from modelyard.config import FunctionsSettings
from modelyard.functions import FunctionArns, FunctionService, FunctionSpec
from modelyard.storage import Database
from modelyard.workflows.function_task import INVOKE, FunctionTask
from modelyard.workflows.interpreter import ExecutionOutcome
from tests.workflows.machines import interpret

ADD = "arn:aws:lambda:us-east-1:000000000000:function:add"

DEFINITION = {
    "StartAt": "Sum",
    "States": {
        "Sum": {
            "Type": "Task",
            "Resource": INVOKE,
            "Parameters": {"FunctionName": "add", "Payload.$": "$"},
            "ResultSelector": {"sum.$": "$.Payload.sum", "status.$": "$.StatusCode"},
            "Next": "Plain",
        },
        "Plain": {
            "Type": "Task",
            "Resource": ADD,
            "Parameters": {"a.$": "$.sum", "b": 100},
            "Next": "Broken",
        },
        "Broken": {
            "Type": "Task",
            "Resource": INVOKE,
            "Parameters": {"FunctionName": "fail", "Payload": {"reason": "by design"}},
            "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Done"}],
            "End": True,
        },
        "Done": {"Type": "Succeed"},
    },
}


def execute(tmp_path: Path, definition: dict[str, Any], input: Any) -> ExecutionOutcome:
    database = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    database.migrate()

    async def main() -> ExecutionOutcome:
        service = FunctionService(
            database=database,
            arns=FunctionArns(region="us-east-1", account_id="000000000000"),
            settings=FunctionsSettings(workers=1),
        )
        await service.start()
        try:
            for name in ("add", "fail"):
                await service.register(
                    FunctionSpec(name=name, handler=f"tests.functions.handlers:{name}")
                )
            return await interpret(definition, FunctionTask(service), input)
        finally:
            await service.stop()

    try:
        return asyncio.run(main())
    finally:
        database.close()


def test_a_workflow_calls_functions_and_catches_their_errors_by_class(tmp_path: Path) -> None:
    outcome = execute(tmp_path, DEFINITION, {"a": 2, "b": 3})
    assert outcome.output["sum"] == 105
    error = outcome.output["error"]
    assert error["Error"] == "ValueError"
    document = orjson.loads(error["Cause"])
    assert document["errorType"] == "ValueError"
    assert document["errorMessage"] == "cannot do it: by design"


def test_an_unknown_function_fails_the_task_as_lambda_names_it(tmp_path: Path) -> None:
    definition = {
        "StartAt": "T",
        "States": {
            "T": {
                "Type": "Task",
                "Resource": INVOKE,
                "Parameters": {"FunctionName": "nobody"},
                "End": True,
            }
        },
    }
    outcome = execute(tmp_path, definition, {})
    assert outcome.error == "Lambda.ResourceNotFoundException"
