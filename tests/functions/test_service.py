"""The functions facade over a real database and real worker processes: results, the
function's own errors in Lambda's words, timeouts and crashes that cost one call and one
worker, the environment around a call, registration that imports the handler first."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from modelyard.functions import (
    EventTooLarge,
    FunctionFailed,
    FunctionNotFound,
    FunctionService,
    FunctionSpec,
    FunctionsUnavailable,
    HandlerNotUsable,
    InvalidEvent,
    InvalidFunction,
    InvalidFunctionName,
)
from modelyard.storage import Database
from modelyard.storage.functions import FunctionRegistrations
from tests.functions.conftest import ARNS, HANDLERS, RunService, handler


async def register(service: FunctionService, name: str, **spec: Any) -> None:
    """Register ``name`` as the toy function of the same name unless ``handler=`` is given."""
    spec.setdefault("handler", handler(name))
    await service.register(FunctionSpec(name=name, **spec))


def is_running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_function_answers_its_result_by_name_or_arn(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> list[Any]:
        await register(service, "add")
        await register(service, "greet", handler=f"{HANDLERS}:Greeter.greet")
        arn = "arn:aws:lambda:us-east-1:000000000000:function:add"
        return [
            await service.invoke("add", {"a": 1, "b": 2}),
            await service.invoke(arn, {"a": 2, "b": 2}),
            await service.invoke(f"{arn}:$LATEST", {"a": 3, "b": 2}),
            await service.invoke("000000000000:function:add", {"a": 4, "b": 2}),
            await service.invoke("greet", {"name": "ada"}),
        ]

    assert shared_service(scenario) == [{"sum": 3}, {"sum": 4}, {"sum": 5}, {"sum": 6}, "hello ada"]


def test_an_exception_is_reported_with_its_class_message_and_stack(
    shared_service: RunService,
) -> None:
    async def scenario(service: FunctionService) -> FunctionFailed:
        await register(service, "fail")
        with pytest.raises(FunctionFailed) as raised:
            await service.invoke("fail", {"reason": "the moon"})
        return raised.value

    failed = shared_service(scenario)

    assert failed.error_type == "ValueError"
    assert failed.message == "cannot do it: the moon"
    assert failed.stack_trace is not None
    # Lambda's stackTrace: the user's frames only, innermost last.
    assert len(failed.stack_trace) == 1
    assert "handlers.py" in failed.stack_trace[0] and ", in fail\n" in failed.stack_trace[0]


def test_a_timeout_kills_its_worker_and_the_next_call_runs_on_a_new_one(
    run_service: RunService,
) -> None:
    async def scenario(service: FunctionService) -> tuple[int, FunctionFailed, float, int]:
        await register(service, "sleep", timeout_s=0.3)
        await register(service, "pid")
        before = await service.invoke("pid", {})
        started = time.monotonic()
        with pytest.raises(FunctionFailed) as raised:
            await service.invoke("sleep", {"seconds": 30}, request_id="req-1")
        elapsed = time.monotonic() - started
        after = await service.invoke("pid", {})
        return before, raised.value, elapsed, after

    before, failed, elapsed, after = run_service(scenario)

    assert failed.error_type == "Sandbox.Timedout"
    assert failed.message == "RequestId: req-1 Error: Task timed out after 0.30 seconds"
    assert failed.stack_trace is None
    assert 0.3 <= elapsed < 5
    assert after != before
    assert not is_running(before)  # killed, not left sleeping


def test_a_crash_fails_only_the_call_it_was_running(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[Any, BaseException | Any, Any]:
        await register(service, "sleep")
        await register(service, "exit_hard")
        await register(service, "add")
        # Two workers: the slow call runs beside the one that takes its worker down.
        slow, crashed = await asyncio.gather(
            service.invoke("sleep", {"seconds": 0.5}),
            service.invoke("exit_hard", {"code": 3}, request_id="req-2"),
            return_exceptions=True,
        )
        return slow, crashed, await service.invoke("add", {"a": 1, "b": 1})

    slow, crashed, later = shared_service(scenario)

    assert slow["slept"] == 0.5
    assert isinstance(crashed, FunctionFailed)
    assert crashed.error_type == "Runtime.ExitError"
    assert crashed.message == "RequestId: req-2 Error: Runtime exited with error: exit status 3"
    assert later == {"sum": 2}


def test_a_segmentation_fault_is_reported_as_the_runtime_exiting(
    shared_service: RunService,
) -> None:
    async def scenario(service: FunctionService) -> tuple[FunctionFailed, Any]:
        await register(service, "segfault")
        await register(service, "echo")
        with pytest.raises(FunctionFailed) as raised:
            await service.invoke("segfault", {}, request_id="req-3")
        return raised.value, await service.invoke("echo", [1, "two"])

    failed, echoed = shared_service(scenario)

    assert failed.error_type == "Runtime.ExitError"
    assert failed.message.endswith("Runtime exited with error: signal: segmentation fault")
    assert echoed == [1, "two"]


def test_the_environment_is_applied_around_the_call_and_restored(
    run_service: RunService, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server's own settings must not reach user code (the management token...).
    monkeypatch.setenv("MODELYARD_TEST_SECRET", "do-not-leak")
    names = ["STAGE", "LEAKED", "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION", "MODELYARD_TEST_SECRET"]

    async def scenario(service: FunctionService) -> tuple[Any, Any, Any, Any]:
        await register(
            service, "staged", handler=handler("environment"), environment={"STAGE": "test"}
        )
        await register(service, "plain", handler=handler("environment"))
        await register(service, "cwd")
        staged = await service.invoke("staged", {"names": names})
        # One worker: the same process, after the first call set LEAKED and moved to /.
        plain = await service.invoke("plain", {"names": names})
        return staged, plain, await service.invoke("cwd", {}), os.getcwd()

    staged, plain, worker_cwd, server_cwd = run_service(scenario)

    assert staged == {
        "STAGE": "test",
        "LEAKED": None,
        "AWS_LAMBDA_FUNCTION_NAME": "staged",
        "AWS_REGION": "us-east-1",
        "MODELYARD_TEST_SECRET": None,
    }
    assert plain == {
        "STAGE": None,
        "LEAKED": None,
        "AWS_LAMBDA_FUNCTION_NAME": "plain",
        "AWS_REGION": "us-east-1",
        "MODELYARD_TEST_SECRET": None,
    }
    assert worker_cwd == server_cwd


def test_an_async_function_is_awaited(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> list[Any]:
        await register(service, "async_add")
        return [await service.invoke("async_add", {"a": n, "b": 1}) for n in range(2)]

    assert shared_service(scenario) == [{"sum": 1}, {"sum": 2}]


def test_a_result_that_is_not_json_is_a_marshal_error(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[FunctionFailed, Any]:
        await register(service, "not_json")
        await register(service, "echo")
        with pytest.raises(FunctionFailed) as raised:
            await service.invoke("not_json", {})
        return raised.value, await service.invoke("echo", {"still": "works"})

    failed, echoed = shared_service(scenario)

    assert failed.error_type == "Runtime.MarshalError"
    assert failed.message.startswith("Unable to marshal response: ")
    assert "set" in failed.message
    assert echoed == {"still": "works"}


def test_the_context_carries_the_request_id_and_the_function(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> Any:
        await register(service, "context_of", timeout_s=5)
        return await service.invoke("context_of", {}, request_id="workflow-step-7")

    context = shared_service(scenario)

    assert context.pop("remaining_ms") in range(4000, 5001)
    log_stream = context.pop("log_stream_name")
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", log_stream)
    assert context == {
        "aws_request_id": "workflow-step-7",
        "function_name": "context_of",
        "function_version": "$LATEST",
        "invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:context_of",
        "memory_limit_in_mb": "3072",
        "log_group_name": "/aws/lambda/context_of",
    }


def test_an_allocation_past_the_memory_limit_is_a_memory_error(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[FunctionFailed, Any]:
        await register(service, "allocate")
        await register(service, "echo")
        with pytest.raises(FunctionFailed) as raised:
            await service.invoke("allocate", {"mib": 8192})
        return raised.value, await service.invoke("echo", "alive")

    failed, echoed = shared_service(scenario)

    assert failed.error_type == "MemoryError"
    assert echoed == "alive"


def test_a_call_without_request_id_gets_a_fresh_one(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> list[Any]:
        await register(service, "context_of")
        return [(await service.invoke("context_of", {}))["aws_request_id"] for _ in range(2)]

    first, second = shared_service(scenario)

    assert first != second
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first
    )


@pytest.mark.parametrize(
    ("handler_ref", "problem"),
    [
        (
            "tests.functions.missing:handler",
            "Runtime.ImportModuleError: Unable to import module 'tests.functions.missing': "
            "No module named 'tests.functions.missing'",
        ),
        (
            f"{HANDLERS}:missing",
            f"Runtime.HandlerNotFound: Handler 'missing' missing on module '{HANDLERS}'",
        ),
        (
            f"{HANDLERS}:NOT_CALLABLE",
            f"Runtime.HandlerNotFound: Handler 'NOT_CALLABLE' on module '{HANDLERS}' is not "
            "callable (int)",
        ),
        (
            "tests.functions.broken_import:handler",
            "RuntimeError: this module cannot be imported",
        ),
        (
            "sys:exit",
            "Runtime.BuiltInModuleConflict: Cannot use built-in module sys as a handler module",
        ),
    ],
)
def test_registering_a_handler_that_does_not_import_names_the_problem(
    shared_service: RunService, handler_ref: str, problem: str
) -> None:
    async def scenario(service: FunctionService) -> tuple[HandlerNotUsable, BaseException]:
        with pytest.raises(HandlerNotUsable) as raised:
            await service.register(FunctionSpec(name="broken", handler=handler_ref))
        with pytest.raises(FunctionNotFound) as missing:
            await service.get("broken")
        return raised.value, missing.value

    refused, missing = shared_service(scenario)

    assert refused.message == f"Handler {handler_ref!r} cannot be used: {problem}"
    assert isinstance(missing, FunctionNotFound)


def test_a_handler_whose_import_hangs_is_refused_and_its_worker_replaced(
    run_service: RunService,
) -> None:
    async def scenario(service: FunctionService) -> tuple[HandlerNotUsable, Any]:
        with pytest.raises(HandlerNotUsable) as raised:
            await service.register(
                FunctionSpec(name="slow", handler="tests.functions.slow_import:handler")
            )
        await register(service, "add")
        return raised.value, await service.invoke("add", {"a": 2, "b": 3})

    refused, answer = run_service(scenario, import_timeout_s=0.5)

    assert "importing it took longer than 0.5 seconds" in refused.message
    assert answer == {"sum": 5}


@pytest.mark.parametrize(
    ("spec", "error", "fragment"),
    [
        (FunctionSpec(name="bad name", handler=handler("add")), InvalidFunctionName, "bad name"),
        (FunctionSpec(name="x" * 65, handler=handler("add")), InvalidFunctionName, "1 to 64"),
        (
            FunctionSpec(name="f", handler="tests.functions.handlers.add"),
            InvalidFunction,
            "module:attr",
        ),
        (FunctionSpec(name="f", handler="os:system; rm"), InvalidFunction, "module:attr"),
        (FunctionSpec(name="f", handler=handler("add"), timeout_s=0), InvalidFunction, "Timeout"),
        (FunctionSpec(name="f", handler=handler("add"), timeout_s=901), InvalidFunction, "900"),
        (
            FunctionSpec(name="f", handler=handler("add"), environment={"AWS_REGION": "x"}),
            InvalidFunction,
            "Reserved keys used in this request: AWS_REGION",
        ),
        (
            FunctionSpec(name="f", handler=handler("add"), environment={"1X": "x"}),
            InvalidFunction,
            "'1X'",
        ),
        (
            FunctionSpec(name="f", handler=handler("add"), environment={"BIG": "x" * 5000}),
            InvalidFunction,
            "4096",
        ),
        (
            FunctionSpec(name="f", handler=handler("add"), description="d" * 257),
            InvalidFunction,
            "256",
        ),
    ],
)
def test_registrations_lambda_would_refuse_are_refused(
    database: Database, spec: FunctionSpec, error: type[Exception], fragment: str
) -> None:
    # Refused before any worker is asked: the service need not even be started.
    service = FunctionService(database=database, arns=ARNS)

    with pytest.raises(error) as raised:
        asyncio.run(service.register(spec))

    assert fragment in str(raised.value)
    assert FunctionRegistrations(database).page() == ([], None)


def test_registering_again_replaces_the_registration(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[Any, ...]:
        first, created = await service.register(
            FunctionSpec(name="calc", handler=handler("add"), timeout_s=5, description="adds")
        )
        second, created_again = await service.register(
            FunctionSpec(name="calc", handler=handler("echo"))
        )
        return first, created, second, created_again, await service.invoke("calc", {"a": 1})

    first, created, second, created_again, answer = shared_service(scenario)

    assert (created, created_again) == (True, False)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    # Omitted fields are not kept from the replaced registration: the timeout is the default.
    assert (second.handler, second.timeout_s, second.description) == (handler("echo"), 3.0, "")
    assert answer == {"a": 1}


def test_unknown_functions_and_qualifiers_are_not_found(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> list[str]:
        await register(service, "add")
        messages = []
        for reference in [
            "nope",
            "add:1",
            "arn:aws:lambda:eu-west-1:000000000000:function:add",
            "arn:aws:lambda:us-east-1:111111111111:function:add",
        ]:
            with pytest.raises(FunctionNotFound) as raised:
                await service.invoke(reference, {})
            messages.append(raised.value.message)
        with pytest.raises(InvalidFunctionName):
            await service.invoke("not/a/name", {})
        return messages

    assert shared_service(scenario) == [
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:add:1",
        "Function not found: arn:aws:lambda:eu-west-1:000000000000:function:add",
        "Function not found: arn:aws:lambda:us-east-1:111111111111:function:add",
    ]


def test_events_must_be_json_within_the_limit(run_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[Any, ...]:
        await register(service, "echo")
        with pytest.raises(InvalidEvent):
            await service.invoke("echo", {1, 2})
        with pytest.raises(InvalidEvent) as malformed:
            await service.invoke_payload("echo", b'{"a": ')
        with pytest.raises(EventTooLarge) as large:
            await service.invoke_payload("echo", b'"' + b"x" * 100 + b'"')
        empty = await service.invoke_payload("echo", b"")
        return malformed.value, large.value, empty

    malformed, large, empty = run_service(scenario, max_payload_bytes=64)

    assert malformed.message.startswith("Could not parse request body into json: ")
    assert large.message == "Request must be smaller than 64 bytes for the InvokeFunction operation"
    assert empty == b"{}"  # no payload: the event is {}, as in Lambda


def test_calls_beyond_the_workers_wait_for_one(run_service: RunService) -> None:
    async def scenario(service: FunctionService) -> tuple[list[Any], float]:
        await register(service, "sleep")
        started = time.monotonic()
        answers = await asyncio.gather(
            *(service.invoke("sleep", {"seconds": 0.2}) for _ in range(3))
        )
        return answers, time.monotonic() - started

    answers, elapsed = run_service(scenario)

    assert [a["slept"] for a in answers] == [0.2, 0.2, 0.2]
    assert len({a["pid"] for a in answers}) == 1  # one worker, one call after the other
    assert elapsed >= 0.6


def test_an_event_invocation_runs_in_the_background(
    run_service: RunService, tmp_path: Path
) -> None:
    marker = tmp_path / "touched"

    async def scenario(service: FunctionService) -> tuple[str, bool, Any]:
        await register(service, "sleep")
        await register(service, "touch")
        await register(service, "pid")
        busy = asyncio.ensure_future(service.invoke("sleep", {"seconds": 0.2}))
        request_id = await service.submit("touch", f'{{"path": "{marker}"}}'.encode())
        written_at_once = marker.exists()
        # One worker, served in order: the event's call runs before this one.
        await service.invoke("pid", {})
        await busy
        return request_id, written_at_once, marker.read_text()

    request_id, written_at_once, written = run_service(scenario)

    assert not written_at_once
    assert written == request_id


def test_a_deleted_function_is_gone(shared_service: RunService) -> None:
    async def scenario(service: FunctionService) -> None:
        await register(service, "doomed", handler=handler("add"))
        await service.delete("doomed")
        with pytest.raises(FunctionNotFound):
            await service.invoke("doomed", {"a": 1, "b": 1})
        with pytest.raises(FunctionNotFound):
            await service.delete("doomed")

    shared_service(scenario)


def test_a_stopped_service_leaves_no_worker_and_refuses_calls(run_service: RunService) -> None:
    async def scenario(service: FunctionService) -> list[int]:
        await register(service, "pid")
        pids = await asyncio.gather(*(service.invoke("pid", {}) for _ in range(4)))
        await service.stop()
        with pytest.raises(FunctionsUnavailable):
            await service.invoke("pid", {})
        return pids

    pids = run_service(scenario, workers=2)

    assert not [pid for pid in pids if is_running(pid)]
