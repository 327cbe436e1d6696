"""The interpreter, state by state, against the Amazon States Language specification."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from modelyard.workflows.errors import StatesError
from modelyard.workflows.interpreter import ExecutionStatus
from tests.workflows.machines import fails, flaky, run

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
INVOKE = "arn:aws:states:::lambda:invoke"


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


# -- Pass, Succeed, Fail -----------------------------------------------------------------


def test_pass_places_its_result_at_result_path() -> None:
    result = run(
        machine({"P": {"Type": "Pass", "Result": {"x": 1}, "ResultPath": "$.r", "End": True}}),
        {"keep": True},
    )
    assert result.output == {"keep": True, "r": {"x": 1}}


def test_pass_passes_its_input_through_by_default() -> None:
    assert run(machine({"P": {"Type": "Pass", "End": True}}), {"a": [1, 2]}).output == {"a": [1, 2]}


def test_pass_parameters_select_paths_context_and_intrinsics() -> None:
    result = run(
        machine(
            {
                "P": {
                    "Type": "Pass",
                    "Parameters": {
                        "name.$": "$.who",
                        "static": "as written",
                        "nested": {"first.$": "$.list[0]"},
                        "execution.$": "$$.Execution.Name",
                        "greeting.$": "States.Format('hello {}', $.who)",
                    },
                    "End": True,
                }
            }
        ),
        {"who": "ada", "list": [7, 8]},
    )
    assert result.output == {
        "name": "ada",
        "static": "as written",
        "nested": {"first": 7},
        "execution": "run-1",
        "greeting": "hello ada",
    }


def test_input_path_and_output_path_filter() -> None:
    result = run(
        machine(
            {
                "P": {
                    "Type": "Pass",
                    "InputPath": "$.inner",
                    "ResultPath": "$.copied",
                    "OutputPath": "$.copied",
                    "End": True,
                }
            }
        ),
        {"inner": {"v": 3}, "other": 1},
    )
    assert result.output == {"v": 3}


def test_null_input_path_gives_an_empty_object_and_null_result_path_keeps_input() -> None:
    result = run(
        machine(
            {
                "A": {"Type": "Pass", "InputPath": None, "Next": "B"},
                "B": {"Type": "Pass", "Result": "dropped", "ResultPath": None, "End": True},
            }
        ),
        {"x": 1},
    )
    assert result.output == {}


def test_missing_input_path_fails_with_states_runtime() -> None:
    result = run(machine({"P": {"Type": "Pass", "InputPath": "$.nope", "End": True}}), {})
    assert result.outcome.status is ExecutionStatus.FAILED
    assert result.outcome.error == "States.Runtime"
    assert "$.nope" in (result.outcome.cause or "")


def test_result_path_into_a_non_object_is_a_match_failure_that_catch_sees() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "ResultPath": "$.a.b",
                    "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "Next": "C"}],
                    "End": True,
                },
                "C": {"Type": "Pass", "End": True},
            }
        ),
        {"a": 5},
        {FN: lambda payload: "result"},
    )
    assert result.output["Error"] == "States.ResultPathMatchFailure"


def test_succeed_ends_with_its_filtered_input() -> None:
    result = run(
        machine({"S": {"Type": "Succeed", "InputPath": "$.x", "OutputPath": "$.y"}}),
        {"x": {"y": 2}},
    )
    assert result.outcome.status is ExecutionStatus.SUCCEEDED
    assert result.output == 2


def test_fail_state_names_its_error_and_cause() -> None:
    result = run(machine({"F": {"Type": "Fail", "Error": "My.Error", "Cause": "because"}}))
    assert result.outcome.status is ExecutionStatus.FAILED
    assert (result.outcome.error, result.outcome.cause) == ("My.Error", "because")
    assert result.types() == ["ExecutionStarted", "FailStateEntered", "ExecutionFailed"]


def test_fail_state_paths_take_error_and_cause_from_the_input() -> None:
    result = run(
        machine(
            {"F": {"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('n={}', $.n)"}}
        ),
        {"e": "From.Input", "n": 3},
    )
    assert (result.outcome.error, result.outcome.cause) == ("From.Input", "n=3")


# -- Task: the I/O order -----------------------------------------------------------------


def test_task_io_runs_in_the_documented_order() -> None:
    """InputPath → Parameters → task → ResultSelector → ResultPath → OutputPath."""
    seen: list[Any] = []

    def resource(payload: Any) -> Any:
        seen.append(payload)
        return {"body": {"total": payload["n"] * 10}, "noise": "x"}

    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "InputPath": "$.order",
                    "Parameters": {"n.$": "$.count"},
                    "ResultSelector": {"total.$": "$.body.total"},
                    "ResultPath": "$.priced",
                    "OutputPath": "$.priced",
                    "End": True,
                }
            }
        ),
        {"order": {"count": 4}, "customer": "c"},
        {FN: resource},
    )
    assert seen == [{"n": 4}]
    assert result.output == {"total": 40}


def test_task_history_for_a_service_integration() -> None:
    result = run(
        machine({"T": {"Type": "Task", "Resource": INVOKE, "End": True}}),
        {"x": 1},
        {INVOKE: lambda payload: {"Payload": payload}},
    )
    assert result.types() == [
        "ExecutionStarted",
        "TaskStateEntered",
        "TaskScheduled",
        "TaskStarted",
        "TaskSucceeded",
        "TaskStateExited",
        "ExecutionSucceeded",
    ]
    events = [event.to_json() for event in result.history.events]
    assert [event["previousEventId"] for event in events] == [0, 1, 2, 3, 4, 5, 6]
    assert events[2]["taskScheduledEventDetails"]["resourceType"] == "lambda"
    assert events[2]["taskScheduledEventDetails"]["resource"] == "invoke"
    assert events[2]["taskScheduledEventDetails"]["parameters"] == '{"x":1}'


def test_plain_function_arn_records_lambda_function_events() -> None:
    result = run(
        machine({"T": {"Type": "Task", "Resource": FN, "End": True}}), {}, {FN: lambda p: 1}
    )
    assert result.types()[2:5] == [
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
    ]


# -- Retry and Catch ---------------------------------------------------------------------


def test_retry_backs_off_by_interval_times_rate_to_the_power_of_attempts() -> None:
    retry = {
        "ErrorEquals": ["Flaky.Error"],
        "IntervalSeconds": 2,
        "BackoffRate": 3,
        "MaxAttempts": 3,
    }
    result = run(
        machine({"T": {"Type": "Task", "Resource": FN, "Retry": [retry], "End": True}}),
        {},
        {FN: flaky(3)},
    )
    assert result.output == "ok"
    assert result.clock.slept == [2, 6, 18]
    call_times = [call[3] for call in result.tasks.calls]
    assert [later - earlier for earlier, later in itertools.pairwise(call_times)] == [2, 6, 18]


def test_retry_defaults_are_one_second_three_attempts_rate_two() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Retry": [{"ErrorEquals": ["States.ALL"]}],
                    "End": True,
                }
            }
        ),
        {},
        {FN: flaky(4)},
    )
    assert result.outcome.status is ExecutionStatus.FAILED
    assert result.outcome.error == "Flaky.Error"
    assert result.clock.slept == [1, 2, 4]
    assert len(result.tasks.calls) == 4


def test_max_delay_caps_and_full_jitter_stays_below_the_delay() -> None:
    retry = {
        "ErrorEquals": ["States.ALL"],
        "IntervalSeconds": 5,
        "BackoffRate": 4,
        "MaxAttempts": 4,
        "MaxDelaySeconds": 30,
        "JitterStrategy": "FULL",
    }
    result = run(
        machine({"T": {"Type": "Task", "Resource": FN, "Retry": [retry], "End": True}}),
        {},
        {FN: flaky(4)},
    )
    caps = [5, 20, 30, 30]
    assert len(result.clock.slept) == 4
    assert all(0 <= slept <= cap for slept, cap in zip(result.clock.slept, caps, strict=False))


def test_max_attempts_zero_never_retries_and_the_next_retrier_is_not_tried() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Retry": [
                        {"ErrorEquals": ["Flaky.Error"], "MaxAttempts": 0},
                        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5},
                    ],
                    "End": True,
                }
            }
        ),
        {},
        {FN: flaky(1)},
    )
    assert result.outcome.status is ExecutionStatus.FAILED
    assert len(result.tasks.calls) == 1


def test_each_retry_is_a_new_attempt_with_its_own_idempotency_key() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1}],
                    "End": True,
                }
            }
        ),
        {},
        {FN: flaky(2)},
    )
    keys = [call[2] for call in result.tasks.calls]
    assert len(set(keys)) == 3
    assert all("/T@" in key and key.endswith(f"#{attempt}") for attempt, key in enumerate(keys))


def test_catch_places_the_error_output_at_its_result_path_and_goes_next() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Catch": [
                        {"ErrorEquals": ["Other"], "Next": "Wrong"},
                        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Handled"},
                    ],
                    "End": True,
                },
                "Wrong": {"Type": "Fail", "Error": "Wrong"},
                "Handled": {"Type": "Pass", "End": True},
            }
        ),
        {"keep": 1},
        {FN: fails("App.Broke", "details")},
    )
    assert result.output == {"keep": 1, "error": {"Error": "App.Broke", "Cause": "details"}}


def test_task_failed_matches_every_error_but_timeout() -> None:
    async def slow(payload: Any) -> Any:
        await asyncio.sleep(0)
        await asyncio.Future()  # never answers

    definition = machine(
        {
            "T": {
                "Type": "Task",
                "Resource": FN,
                "TimeoutSeconds": 5,
                "Catch": [
                    {"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
                    {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"},
                ],
                "End": True,
            },
            "Failed": {"Type": "Pass", "Result": "failed", "End": True},
            "TimedOut": {"Type": "Pass", "Result": "timed out", "End": True},
        }
    )
    assert run(definition, {}, {FN: fails("Any.Error")}).output == "failed"
    timed_out = run(definition, {}, {FN: slow})
    assert timed_out.output == "timed out"
    assert "LambdaFunctionTimedOut" in timed_out.types()
    assert timed_out.clock.now() - 1_700_000_000.0 == pytest.approx(5)


def test_data_limit_is_not_caught_by_states_all() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}],
                    "End": True,
                },
                "C": {"Type": "Pass", "End": True},
            }
        ),
        {},
        {FN: lambda payload: "x" * (300 * 1024)},
    )
    assert result.outcome.error == "States.DataLimitExceeded"


def test_execution_timeout_ends_it_timed_out() -> None:
    result = run(
        machine({"W": {"Type": "Wait", "Seconds": 100, "End": True}}, TimeoutSeconds=10), {}
    )
    assert result.outcome.status is ExecutionStatus.TIMED_OUT
    assert result.types()[-1] == "ExecutionTimedOut"


# -- Choice ------------------------------------------------------------------------------


CHOICE = machine(
    {
        "C": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
                {
                    "And": [
                        {"Variable": "$.n", "NumericGreaterThanEquals": 0},
                        {"Variable": "$.kind", "StringEquals": "small"},
                    ],
                    "Next": "Small",
                },
            ],
            "Default": "Other",
        },
        "Big": {"Type": "Pass", "Result": "big", "End": True},
        "Small": {"Type": "Pass", "Result": "small", "End": True},
        "Other": {"Type": "Pass", "Result": "other", "End": True},
    }
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [({"n": 11}, "big"), ({"n": 3, "kind": "small"}, "small"), ({"n": 3, "kind": "x"}, "other")],
)
def test_choice_takes_the_first_matching_rule_else_default(given: Any, expected: str) -> None:
    assert run(CHOICE, given).output == expected


def test_choice_without_default_fails_with_no_choice_matched() -> None:
    definition = machine(
        {
            "C": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "One"}],
            },
            "One": {"Type": "Succeed"},
        }
    )
    result = run(definition, {"n": 2})
    assert result.outcome.error == "States.NoChoiceMatched"


# -- Wait --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wait", "given", "seconds"),
    [
        ({"Seconds": 30}, {}, 30),
        ({"SecondsPath": "$.s"}, {"s": 7}, 7),
        ({"Timestamp": "2023-11-14T22:14:20Z"}, {}, 1_700_000_060 - 1_700_000_000),
        ({"TimestampPath": "$.t"}, {"t": "2023-11-14T23:13:20+01:00"}, 0),
    ],
)
def test_wait_waits_on_the_clock(wait: dict[str, Any], given: Any, seconds: float) -> None:
    result = run(machine({"W": {"Type": "Wait", **wait, "End": True}}), given)
    assert result.outcome.status is ExecutionStatus.SUCCEEDED
    assert result.output == given
    assert result.clock.now() - 1_700_000_000.0 == pytest.approx(seconds)


# -- Parallel and Map --------------------------------------------------------------------


def test_parallel_outputs_each_branch_in_order() -> None:
    result = run(
        machine(
            {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [
                        machine({"A": {"Type": "Pass", "Result": "a", "End": True}}),
                        machine(
                            {
                                "B": {"Type": "Wait", "Seconds": 1, "Next": "B2"},
                                "B2": {"Type": "Pass", "Result": "b", "End": True},
                            }
                        ),
                    ],
                    "End": True,
                }
            }
        )
    )
    assert result.output == ["a", "b"]
    assert "ParallelStateStarted" in result.types()
    assert "ParallelStateSucceeded" in result.types()


def test_a_failing_branch_fails_the_parallel_with_its_error() -> None:
    result = run(
        machine(
            {
                "Par": {
                    "Type": "Parallel",
                    "Branches": [
                        machine({"W": {"Type": "Wait", "Seconds": 60, "End": True}}),
                        machine({"F": {"Type": "Fail", "Error": "Branch.Broke"}}),
                    ],
                    "Catch": [{"ErrorEquals": ["Branch.Broke"], "Next": "Caught"}],
                    "End": True,
                },
                "Caught": {"Type": "Pass", "End": True},
            }
        )
    )
    assert result.output["Error"] == "Branch.Broke"
    # The waiting branch was cancelled, not waited for.
    assert result.clock.now() - 1_700_000_000.0 < 60


def test_map_runs_each_item_with_item_selector_and_context() -> None:
    result = run(
        machine(
            {
                "M": {
                    "Type": "Map",
                    "ItemsPath": "$.items",
                    "ItemSelector": {
                        "index.$": "$$.Map.Item.Index",
                        "value.$": "$$.Map.Item.Value",
                        "shared.$": "$.shared",
                    },
                    "ItemProcessor": machine({"T": {"Type": "Task", "Resource": FN, "End": True}}),
                    "ResultPath": "$.out",
                    "End": True,
                }
            }
        ),
        {"items": ["a", "b", "c"], "shared": 1},
        {FN: lambda p: f"{p['index']}:{p['value']}:{p['shared']}"},
    )
    assert result.output["out"] == ["0:a:1", "1:b:1", "2:c:1"]
    assert result.types().count("MapIterationStarted") == 3
    assert result.types().count("MapIterationSucceeded") == 3


def test_map_max_concurrency_bounds_iterations_in_flight() -> None:
    running = {"now": 0, "peak": 0}

    async def resource(payload: Any) -> Any:
        running["now"] += 1
        running["peak"] = max(running["peak"], running["now"])
        for _ in range(5):
            await asyncio.sleep(0)
        running["now"] -= 1
        return payload

    result = run(
        machine(
            {
                "M": {
                    "Type": "Map",
                    "MaxConcurrency": 2,
                    "Iterator": machine({"T": {"Type": "Task", "Resource": FN, "End": True}}),
                    "End": True,
                }
            }
        ),
        list(range(7)),
        {FN: resource},
    )
    assert result.output == list(range(7))
    assert running["peak"] == 2


@pytest.mark.parametrize(
    ("tolerance", "status"),
    [
        ({"ToleratedFailureCount": 2}, ExecutionStatus.SUCCEEDED),
        ({"ToleratedFailureCount": 1}, ExecutionStatus.FAILED),
        ({"ToleratedFailurePercentage": 50}, ExecutionStatus.SUCCEEDED),
        ({"ToleratedFailurePercentage": 20}, ExecutionStatus.FAILED),
    ],
)
def test_map_tolerated_failures(tolerance: dict[str, Any], status: ExecutionStatus) -> None:
    def resource(payload: Any) -> Any:
        if payload % 2:
            raise _odd(payload)
        return payload

    result = run(
        machine(
            {
                "M": {
                    "Type": "Map",
                    **tolerance,
                    "ItemProcessor": machine({"T": {"Type": "Task", "Resource": FN, "End": True}}),
                    "End": True,
                }
            }
        ),
        [0, 1, 2, 3, 4],
        {FN: resource},
    )
    assert result.outcome.status is status
    if status is ExecutionStatus.FAILED:
        assert result.outcome.error == "States.ExceedToleratedFailureThreshold"
    else:
        assert result.output[0] == 0
        assert result.output[1]["Error"] == "Odd"


def _odd(value: int) -> StatesError:
    return StatesError("Odd", str(value))


def test_map_without_tolerance_fails_with_the_iterations_error() -> None:
    result = run(
        machine(
            {
                "M": {
                    "Type": "Map",
                    "ItemProcessor": machine({"T": {"Type": "Task", "Resource": FN, "End": True}}),
                    "End": True,
                }
            }
        ),
        [1, 2],
        {FN: fails("Item.Broke")},
    )
    assert result.outcome.error == "Item.Broke"
    assert "MapIterationFailed" in result.types()


# -- Variables ---------------------------------------------------------------------------


def test_assign_sets_variables_later_states_read() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Assign": {"total.$": "$.total", "label": "fixed"},
                    "Next": "Use",
                },
                "Use": {
                    "Type": "Pass",
                    "Parameters": {"t.$": "$total", "l.$": "$label"},
                    "End": True,
                },
            }
        ),
        {},
        {FN: lambda p: {"total": 12}},
    )
    assert result.output == {"t": 12, "l": "fixed"}
    exited = next(e for e in result.history.events if e.type == "TaskStateExited")
    assert exited.details is not None
    assert exited.details[1]["assignedVariables"] == {"total": "12", "label": '"fixed"'}


def test_assignments_of_one_state_all_see_the_old_values() -> None:
    result = run(
        machine(
            {
                "A": {"Type": "Pass", "Assign": {"x": 1, "y": 2}, "Next": "Swap"},
                "Swap": {"Type": "Pass", "Assign": {"x.$": "$y", "y.$": "$x"}, "Next": "Out"},
                "Out": {"Type": "Pass", "Parameters": {"x.$": "$x", "y.$": "$y"}, "End": True},
            }
        )
    )
    assert result.output == {"x": 2, "y": 1}


def test_map_iterations_read_outer_variables_and_keep_their_own() -> None:
    result = run(
        machine(
            {
                "Set": {"Type": "Pass", "Assign": {"outer": 10}, "Next": "M"},
                "M": {
                    "Type": "Map",
                    "ItemProcessor": machine(
                        {
                            "Inner": {"Type": "Pass", "Assign": {"inner.$": "$"}, "Next": "Read"},
                            "Read": {
                                "Type": "Pass",
                                "Parameters": {"sum.$": "States.MathAdd($outer, $inner)"},
                                "End": True,
                            },
                        }
                    ),
                    "Next": "After",
                },
                "After": {
                    "Type": "Pass",
                    "Parameters": {"outer.$": "$outer", "all.$": "$"},
                    "End": True,
                },
            }
        ),
        [1, 2],
    )
    assert result.output == {"outer": 10, "all": [{"sum": 11}, {"sum": 12}]}


# -- JSONata -----------------------------------------------------------------------------


def test_jsonata_task_arguments_output_and_assign() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Arguments": {"n": "{% $states.input.n * 2 %}", "fixed": "as is"},
                    "Assign": {"seen": "{% $states.result.value %}"},
                    "Output": {
                        "value": "{% $states.result.value %}",
                        "input": "{% $states.input %}",
                    },
                    "Next": "Read",
                },
                "Read": {"Type": "Pass", "Output": "{% $seen + 1 %}", "End": True},
            },
            QueryLanguage="JSONata",
        ),
        {"n": 5},
        {FN: lambda p: {"value": p["n"], "fixed": p["fixed"]}},
    )
    assert result.output == 11


def test_jsonata_choice_condition_and_map_items() -> None:
    result = run(
        machine(
            {
                "C": {
                    "Type": "Choice",
                    "Choices": [{"Condition": "{% $count($states.input.xs) > 2 %}", "Next": "M"}],
                    "Default": "No",
                },
                "M": {
                    "Type": "Map",
                    "Items": "{% $states.input.xs %}",
                    "ItemProcessor": {
                        "StartAt": "Sq",
                        "States": {
                            "Sq": {
                                "Type": "Pass",
                                "Output": "{% $states.input * $states.input %}",
                                "End": True,
                            }
                        },
                    },
                    "Output": "{% $sum($states.result) %}",
                    "End": True,
                },
                "No": {"Type": "Fail", "Error": "Short"},
            },
            QueryLanguage="JSONata",
        ),
        {"xs": [1, 2, 3]},
    )
    assert result.output == 14


def test_jsonata_catch_sees_the_error_output() -> None:
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Catch": [
                        {
                            "ErrorEquals": ["States.ALL"],
                            "Output": "{% $states.errorOutput.Error & '/' & $states.input.id %}",
                            "Next": "Done",
                        }
                    ],
                    "End": True,
                },
                "Done": {"Type": "Succeed"},
            },
            QueryLanguage="JSONata",
        ),
        {"id": "j1"},
        {FN: fails("Model.Down")},
    )
    assert result.output == "Model.Down/j1"


def test_a_state_visited_again_in_a_loop_is_a_new_visit() -> None:
    """Each visit has its own idempotency key and its own randomness."""
    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": FN,
                    "Parameters": {"id.$": "States.UUID()", "n.$": "$.n"},
                    "ResultSelector": {"n.$": "$.n", "ids.$": "$.ids"},
                    "Next": "Again",
                },
                "Again": {
                    "Type": "Choice",
                    "Choices": [{"Variable": "$.n", "NumericLessThan": 2, "Next": "T"}],
                    "Default": "Done",
                },
                "Done": {"Type": "Succeed"},
            }
        ),
        {"n": 0, "ids": []},
        {FN: lambda p: {"n": p["n"] + 1, "ids": [p["id"]]}},
    )
    keys = [call[2] for call in result.tasks.calls]
    ids = [call[1]["id"] for call in result.tasks.calls]
    assert len(keys) == 2
    assert len(set(keys)) == 2
    assert len(set(ids)) == 2


def test_a_task_silent_for_longer_than_heartbeat_seconds_times_out() -> None:
    async def silent(payload: Any) -> Any:
        await asyncio.Future()  # never answers, never sends a heartbeat

    result = run(
        machine(
            {
                "T": {
                    "Type": "Task",
                    "Resource": INVOKE,
                    "TimeoutSeconds": 60,
                    "HeartbeatSeconds": 10,
                    "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Late"}],
                    "End": True,
                },
                "Late": {"Type": "Pass", "End": True},
            }
        ),
        {},
        {INVOKE: silent},
    )
    assert result.output["Error"] == "States.HeartbeatTimeout"
    assert "TaskTimedOut" in result.types()
    assert result.clock.now() - 1_700_000_000.0 == pytest.approx(10)
