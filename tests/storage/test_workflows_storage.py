"""The workflows area's storage on SQLite and PostgreSQL: state machines and their revisions
and tags, executions, their leases, events, endings, stops and redrives; revision 0004."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import inspect

from modelyard.storage import Database
from modelyard.storage.database import _alembic_config
from modelyard.storage.executions import (
    Ending,
    Execution,
    Executions,
    ExecutionStatus,
    NewEvent,
    Start,
)
from modelyard.storage.state_machines import (
    StateMachine,
    StateMachines,
    StateMachineStatus,
    StateMachineType,
)
from modelyard.storage.tags import Tag

NEW_TABLES = {"state_machines", "state_machine_revisions", "executions", "execution_events"}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = 1_900_000_000.0


def machine(name: str = "Orders", definition: str = '{"v": 1}', **changes: object) -> StateMachine:
    values: dict[str, object] = {
        "name": name,
        "type": StateMachineType.STANDARD,
        "definition": definition,
        "role_arn": "arn:aws:iam::000000000000:role/r",
        "status": StateMachineStatus.ACTIVE,
        "revision_id": f"{name}-r1",
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return StateMachine(**values)  # type: ignore[arg-type]


def execution(name: str, *, state_machine: str = "Orders", minutes: int = 0) -> Execution:
    return Execution(
        state_machine=state_machine,
        name=name,
        revision_id=f"{state_machine}-r1",
        status=ExecutionStatus.RUNNING,
        input='{"n": 1}',
        start_date=T0 + timedelta(minutes=minutes),
    )


def event(key: str, id: int, type: str = "PassStateEntered", **more: object) -> NewEvent:
    return NewEvent(
        execution=key,
        id=id,
        previous_id=id - 1,
        timestamp=NOW + id,
        type=type,
        details_name="stateEnteredEventDetails",
        details={"name": "P", "n": id},
        key=str(more.pop("ikey", f"#{id - 1}")),
        **more,  # type: ignore[arg-type]
    )


def started(executions: Executions, run: Execution, *, owner: str | None = None) -> None:
    result = executions.start(
        run,
        event(run.key, 1, "ExecutionStarted"),
        lease_owner=owner,
        lease_expires=NOW + 30 if owner else None,
    )
    assert result == (run, True)


@pytest.fixture
def machines(database: Database) -> StateMachines:
    found = StateMachines(database)
    assert found.add(machine()) is not None
    return found


@pytest.fixture
def executions(database: Database, machines: StateMachines) -> Executions:
    return Executions(database)


# -- state machines ------------------------------------------------------------------------


def test_a_name_is_taken_once_and_case_sensitive(machines: StateMachines) -> None:
    assert machines.add(machine(definition='{"v": 2}')) is None
    assert machines.add(machine("orders", revision_id="lower-r1")) is not None
    got = machines.get("Orders")
    assert got is not None and got.definition == '{"v": 1}'


def test_an_update_of_the_definition_makes_a_revision_and_keeps_the_old_one(
    machines: StateMachines,
) -> None:
    updated = machines.update("Orders", now=T0 + timedelta(hours=1), definition='{"v": 2}')

    assert updated is not None and updated.revision_id != "Orders-r1"
    assert machines.get("Orders") == updated
    assert machines.revision("Orders-r1") == ('{"v": 1}', "arn:aws:iam::000000000000:role/r")
    assert machines.revision(updated.revision_id) == ('{"v": 2}', updated.role_arn)


def test_an_update_of_the_logging_alone_keeps_the_revision(machines: StateMachines) -> None:
    updated = machines.update("Orders", now=T0, logging_configuration={"level": "ALL"})

    assert updated is not None and updated.revision_id == "Orders-r1"
    assert updated.logging_configuration == {"level": "ALL"}
    assert machines.update("Missing", now=T0, definition="{}") is None


def test_state_machines_are_listed_by_name_in_pages(machines: StateMachines) -> None:
    for name in ("b", "a", "c"):
        machines.add(machine(name))

    first, more = machines.list(after=None, limit=2)
    second, last = machines.list(after=first[-1].name, limit=2)

    assert [m.name for m in first] == ["Orders", "a"] and more
    assert [m.name for m in second] == ["b", "c"] and not last


def test_tags_are_set_listed_and_removed_within_the_limit(machines: StateMachines) -> None:
    assert machines.add_tags("Orders", [Tag(key="team", value="a")], max_tags=2) == 1
    assert machines.add_tags("Orders", [Tag(key="team", value="b")], max_tags=2) == 1
    assert (
        machines.add_tags("Orders", [Tag(key="x", value=""), Tag(key="y", value="")], max_tags=2)
        == 3
    )
    assert machines.list_tags("Orders") == [Tag(key="team", value="b")]
    assert machines.remove_tags("Orders", ["team", "absent"])
    assert machines.list_tags("Orders") == []
    assert machines.list_tags("Missing") is None
    assert machines.add_tags("Missing", [Tag(key="k", value="v")], max_tags=2) is None


def test_deleting_an_idle_machine_removes_it_with_its_revisions_and_tags(
    machines: StateMachines,
) -> None:
    machines.add_tags("Orders", [Tag(key="k", value="v")], max_tags=50)

    assert machines.begin_delete("Orders")

    assert machines.get("Orders") is None
    assert machines.revision("Orders-r1") is None
    assert machines.add(machine()) is not None
    assert machines.list_tags("Orders") == []
    assert not machines.begin_delete("Missing")


def test_a_machine_deleted_while_running_goes_with_its_last_execution(
    machines: StateMachines, executions: Executions
) -> None:
    run = execution("e1")
    started(executions, run, owner="A")

    assert machines.begin_delete("Orders")
    deleting = machines.get("Orders")
    assert deleting is not None and deleting.status is StateMachineStatus.DELETING
    assert executions.start(execution("e2"), event("Orders:e2", 1)) is None

    done = executions.commit(
        "A",
        [event(run.key, 2)],
        [Ending(execution=run.key, status=ExecutionStatus.FAILED, stop_date=T0, error="E")],
        lease_until=NOW + 30,
    )

    assert done.deleting == {run.key}
    assert machines.get("Orders") is None


# -- executions ------------------------------------------------------------------------------


def test_a_start_records_the_execution_and_its_first_event_once(executions: Executions) -> None:
    run = execution("e1")
    started(executions, run)

    again = executions.start(replace_input(run, "{}"), event(run.key, 1))

    assert again == (run, False)
    assert executions.get(run.key) == run
    events, more = executions.history(run.key)
    assert [(e.id, e.type, e.key) for e in events] == [(1, "ExecutionStarted", "#0")] and not more
    assert executions.start(execution("x", state_machine="Missing"), event("Missing:x", 1)) is None


def test_starts_in_one_commit_answer_each_in_order(executions: Executions) -> None:
    first, second = execution("e1"), replace_input(execution("e1"), "[]")

    done = executions.commit(
        "A",
        [],
        starts=[
            Start(execution=first, first=event(first.key, 1), leased=True),
            Start(execution=second, first=event(second.key, 1)),
        ],
        lease_until=NOW + 30,
    )

    assert list(done.started) == [(first, True), (first, False)]
    assert executions.claim("B", now=NOW, lease_until=NOW + 30, limit=5) == []


def test_claims_take_free_and_expired_leases_oldest_first(executions: Executions) -> None:
    held, free = execution("held"), execution("free", minutes=1)
    started(executions, held, owner="A")
    started(executions, free)

    claimed = executions.claim("B", now=NOW, lease_until=NOW + 30, limit=5)

    assert [c.execution.key for c in claimed] == [free.key]
    assert claimed[0].definition == '{"v": 1}'
    assert [(e.id, e.type) for e in claimed[0].events] == [(1, "ExecutionStarted")]
    assert claimed[0].last_event_id == 1
    assert executions.claim("C", now=NOW + 1, lease_until=NOW + 30, limit=5) == []
    later = executions.claim("C", now=NOW + 31, lease_until=NOW + 60, limit=5)
    assert [c.execution.key for c in later] == [held.key, free.key]


def test_concurrent_claims_never_share_an_execution(executions: Executions) -> None:
    for number in range(40):
        started(executions, execution(f"e{number}", minutes=number))
    claims: dict[str, list[str]] = {}

    def claim(owner: str) -> None:
        mine: list[str] = []
        while batch := executions.claim(owner, now=NOW, lease_until=NOW + 30, limit=3):
            mine += [c.execution.key for c in batch]
        claims[owner] = mine

    threads = [threading.Thread(target=claim, args=(f"r{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [key for keys in claims.values() for key in keys]
    assert sorted(every) == sorted(f"Orders:e{n}" for n in range(40))


def test_only_the_lease_holder_writes_and_its_ending_goes_with_its_last_event(
    executions: Executions,
) -> None:
    run = execution("e1")
    started(executions, run, owner="A")

    stranger = executions.commit("B", [event(run.key, 2)], lease_until=NOW + 30)
    holder = executions.commit(
        "A",
        [event(run.key, 2), event(run.key, 3, "ExecutionSucceeded")],
        [
            Ending(
                execution=run.key,
                status=ExecutionStatus.SUCCEEDED,
                stop_date=T0 + timedelta(seconds=5),
                output='{"ok": true}',
            )
        ],
        lease_until=NOW + 30,
    )

    assert stranger.owned == frozenset() and holder.owned == {run.key}
    ended = executions.get(run.key)
    assert ended is not None and ended.status is ExecutionStatus.SUCCEEDED
    assert ended.output == '{"ok": true}' and ended.stop_date == T0 + timedelta(seconds=5)
    assert [e.type for e in executions.history(run.key)[0]][-1] == "ExecutionSucceeded"
    assert executions.commit("A", [event(run.key, 4)], lease_until=NOW).owned == frozenset()


def test_leases_are_renewed_and_released_by_their_holder_only(executions: Executions) -> None:
    run = execution("e1")
    started(executions, run, owner="A")

    assert executions.renew("B", [run.key], lease_until=NOW + 99) == set()
    assert executions.renew("A", [run.key], lease_until=NOW + 99) == {run.key}
    assert executions.claim("B", now=NOW + 50, lease_until=NOW + 60, limit=1) == []
    executions.release("A", [run.key])
    assert [c.execution.key for c in executions.claim("B", now=NOW, lease_until=NOW, limit=1)] == [
        run.key
    ]


def test_a_stop_aborts_with_its_event_and_ends_the_lease(executions: Executions) -> None:
    run = execution("e1")
    started(executions, run, owner="A")
    executions.commit("A", [event(run.key, 2)], lease_until=NOW + 30)

    stopped = executions.stop(
        run.key,
        stop_date=T0,
        error="Oops",
        cause="by hand",
        event=NewEvent(
            execution=run.key,
            id=0,
            previous_id=0,
            timestamp=NOW,
            type="ExecutionAborted",
            details_name="executionAbortedEventDetails",
            details={"error": "Oops"},
            key="!ExecutionAborted",
            replayable=False,
        ),
    )

    assert stopped is not None and stopped.status is ExecutionStatus.ABORTED
    assert (stopped.error, stopped.cause) == ("Oops", "by hand")
    last = executions.history(run.key, reverse=True, limit=1)[0][0]
    assert (last.id, last.previous_id, last.type, last.replayable) == (
        3,
        2,
        "ExecutionAborted",
        False,
    )
    assert executions.commit("A", [event(run.key, 3)], lease_until=NOW).owned == frozenset()
    assert (
        executions.stop(run.key, stop_date=T0, error=None, cause=None, event=last_as_new(run))
        == stopped
    )
    assert (
        executions.stop("Orders:none", stop_date=T0, error=None, cause=None, event=last_as_new(run))
        is None
    )


def test_a_redrive_drops_what_it_is_told_and_runs_again(executions: Executions) -> None:
    run = execution("e1")
    started(executions, run, owner="A")
    executions.commit(
        "A",
        [event(run.key, 2), event(run.key, 3), event(run.key, 4, "ExecutionFailed")],
        [Ending(execution=run.key, status=ExecutionStatus.FAILED, stop_date=T0, error="E")],
        lease_until=NOW + 30,
    )
    redriven_event = NewEvent(
        execution=run.key,
        id=0,
        previous_id=0,
        timestamp=NOW + 10,
        type="ExecutionRedriven",
        details_name="executionRedrivenEventDetails",
        details={"redriveCount": 1},
        key="!ExecutionRedriven",
        replayable=False,
    )

    assert (
        executions.redrive(
            run.key, redrive_count=1, now=T0, event=redriven_event, superseded=lambda e: []
        )
        is None
    )
    redriven = executions.redrive(
        run.key,
        redrive_count=0,
        now=T0 + timedelta(hours=1),
        event=redriven_event,
        superseded=lambda events: [e.id for e in events if e.id >= 3],
    )

    assert redriven is not None and redriven.status is ExecutionStatus.RUNNING
    assert redriven.redrive_count == 1 and redriven.redrive_date == T0 + timedelta(hours=1)
    assert redriven.error is None and redriven.stop_date is None
    [claimed] = executions.claim("B", now=NOW, lease_until=NOW + 30, limit=1)
    assert [e.id for e in claimed.events] == [1, 2]
    assert claimed.last_event_id == 5
    # The next attempt writes the keys it dropped again, under its own attempt number.
    assert executions.commit(
        "B", [event(run.key, 6, ikey="#2", redrive=1)], lease_until=NOW + 30
    ).owned == {run.key}


def test_histories_page_forwards_and_backwards(executions: Executions) -> None:
    run = execution("e1")
    started(executions, run, owner="A")
    executions.commit("A", [event(run.key, n) for n in range(2, 8)], lease_until=NOW + 30)

    first, more = executions.history(run.key, limit=3)
    rest, done = executions.history(run.key, after=first[-1].id, limit=10)
    backwards, _ = executions.history(run.key, reverse=True, after=5, limit=2)

    assert [e.id for e in first] == [1, 2, 3] and more
    assert [e.id for e in rest] == [4, 5, 6, 7] and not done
    assert [e.id for e in backwards] == [4, 3]
    assert first[1].details == {"name": "P", "n": 2}
    assert executions.last_event_id(run.key) == 7


def test_executions_are_listed_newest_first_with_filters(executions: Executions) -> None:
    for number in range(5):
        started(executions, execution(f"e{number}", minutes=number), owner="A")
    executions.commit(
        "A",
        [],
        [Ending(execution="Orders:e1", status=ExecutionStatus.FAILED, stop_date=T0)],
        lease_until=NOW + 30,
    )

    page, more = executions.list("Orders", limit=2)
    last = page[-1]
    rest, done = executions.list("Orders", after=(last.start_date, last.key), limit=10)
    failed, _ = executions.list("Orders", status=ExecutionStatus.FAILED)

    assert [e.name for e in page] == ["e4", "e3"] and more
    assert [e.name for e in rest] == ["e2", "e1", "e0"] and not done
    assert [e.name for e in failed] == ["e1"]
    assert executions.list("Orders", redriven=True) == ([], False)


# -- revision 0004 ---------------------------------------------------------------------------


def test_an_upgrade_from_0003_adds_the_workflow_tables(empty_database: Database) -> None:
    empty_database.migrate("0003")
    assert NEW_TABLES.isdisjoint(inspect(empty_database.engine).get_table_names())

    empty_database.migrate("0004")

    assert empty_database.current_revision() == "0004"
    assert set(inspect(empty_database.engine).get_table_names()) >= NEW_TABLES
    assert StateMachines(empty_database).add(machine()) is not None


def test_a_downgrade_to_0003_drops_only_the_workflow_tables(database: Database) -> None:
    config = _alembic_config()
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")

    tables = set(inspect(database.engine).get_table_names())
    assert NEW_TABLES.isdisjoint(tables)
    assert {"functions", "tags", "endpoints"} <= tables


def replace_input(run: Execution, text: str) -> Execution:
    from dataclasses import replace

    return replace(run, input=text)


def last_as_new(run: Execution) -> NewEvent:
    return event(run.key, 0, "ExecutionAborted", ikey="!ExecutionAborted", replayable=False)
