"""Training jobs: records, listing and guarded updates, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from modelyard.storage import Database
from modelyard.storage.listing import ListQuery
from modelyard.storage.training_jobs import TrainingJobs
from modelyard.storage.training_records import (
    SecondaryStatus,
    StatusTransition,
    TrainingJob,
    TrainingJobStatus,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def job(
    name: str,
    created_at: datetime = T0,
    status: TrainingJobStatus = TrainingJobStatus.IN_PROGRESS,
    **fields: Any,
) -> TrainingJob:
    """A job as CreateTrainingJob records it, ``fields`` replaced."""
    made = TrainingJob(
        name=name,
        arn=f"arn:aws:sagemaker:eu-west-1:000000000000:training-job/{name.lower()}",
        status=status,
        secondary_status=SecondaryStatus.STARTING,
        algorithm={"TrainingImage": "modelyard/sklearn", "TrainingInputMode": "File"},
        hyperparameters={"epochs": "3"},
        input_data_config=[{"ChannelName": "train", "DataSource": {"S3DataSource": {}}}],
        output_data_config={"S3OutputPath": "s3://bucket/out"},
        resource_config={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        stopping_condition={"MaxRuntimeInSeconds": 86400},
        role_arn="arn:aws:iam::000000000000:role/training",
        created_at=created_at,
        last_modified=created_at,
        transitions=(
            StatusTransition(status=SecondaryStatus.STARTING, start=created_at, message="go"),
        ),
        runner="host:1",
    )
    return dataclasses.replace(made, **fields)


@pytest.fixture
def jobs(database: Database) -> TrainingJobs:
    return TrainingJobs(database)


def test_add_then_get_gives_back_every_field(jobs: TrainingJobs) -> None:
    later = T0 + timedelta(minutes=5, microseconds=7)
    added = job(
        "Churn-1",
        status=TrainingJobStatus.COMPLETED,
        secondary_status=SecondaryStatus.COMPLETED,
        algorithm={
            "TrainingImage": "modelyard/sklearn",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
            "Nested": {"list": [1, 2.5, None, True], "text": "é ✓"},
        },
        hyperparameters={"epochs": "3", "lr": "0.1"},
        input_data_config=[{"ChannelName": "train"}, {"ChannelName": "test"}],
        environment={"SEED": "7"},
        training_start=T0 + timedelta(seconds=1),
        training_end=later,
        failure_reason="none, really",
        model_artifacts="s3://bucket/out/Churn-1/output/model.tar.gz",
        final_metrics={"loss": 0.25, "accuracy": 1.0},
        transitions=(
            StatusTransition(
                status=SecondaryStatus.STARTING, start=T0, end=T0 + timedelta(seconds=1)
            ),
            StatusTransition(
                status=SecondaryStatus.COMPLETED, start=later, end=later, message="done"
            ),
        ),
        last_modified=later,
        runner=None,
    )

    assert jobs.add(added) is True

    found = jobs.get("churn-1")
    assert found == added
    assert found is not None and found.created_at.tzinfo is not None
    assert found.transitions[0].start.utcoffset() == timedelta(0)


def test_times_in_another_zone_come_back_as_the_same_moment_in_utc(jobs: TrainingJobs) -> None:
    paris = timezone(timedelta(hours=1))
    local = T0.astimezone(paris)
    jobs.add(
        job(
            "zoned",
            created_at=local,
            transitions=(StatusTransition(status=SecondaryStatus.STARTING, start=local),),
        )
    )

    found = jobs.get("zoned")

    assert found is not None
    assert found.created_at == T0 and found.created_at.utcoffset() == timedelta(0)
    assert found.transitions[0].start == T0
    assert found.transitions[0].start.utcoffset() == timedelta(0)


def test_a_taken_name_is_refused_whatever_its_case(jobs: TrainingJobs) -> None:
    assert jobs.add(job("churn")) is True

    assert jobs.add(job("churn", hyperparameters={"epochs": "9"})) is False
    assert jobs.add(job("CHURN")) is False
    found = jobs.get("Churn")
    assert found is not None and found.name == "churn"
    assert found.hyperparameters == {"epochs": "3"}


def test_get_of_an_unknown_name_is_none(jobs: TrainingJobs) -> None:
    assert jobs.get("nope") is None


@pytest.fixture
def five(jobs: TrainingJobs) -> TrainingJobs:
    """Five jobs created a minute apart, a to e, with a few statuses."""
    statuses = [
        TrainingJobStatus.COMPLETED,
        TrainingJobStatus.IN_PROGRESS,
        TrainingJobStatus.FAILED,
        TrainingJobStatus.IN_PROGRESS,
        TrainingJobStatus.STOPPED,
    ]
    # Inserted out of order, so that order comes from the query.
    for index in (3, 0, 4, 1, 2):
        created = T0 + timedelta(minutes=index)
        jobs.add(
            job(
                f"job-{'abcde'[index]}",
                created_at=created,
                status=statuses[index],
                last_modified=created + timedelta(hours=index),
            )
        )
    return jobs


def every_page(jobs: TrainingJobs, query: ListQuery) -> list[list[str]]:
    """The names on each page of ``query``, following the cursors to the end."""
    pages = []
    while True:
        page = jobs.page(query)
        pages.append([j.name for j in page.items])
        if page.next is None:
            return pages
        query = dataclasses.replace(query, after=page.next)


def test_pages_sorted_by_creation_follow_each_other(five: TrainingJobs) -> None:
    pages = every_page(five, ListQuery(sort_by="created_at", limit=2))

    assert pages == [["job-a", "job-b"], ["job-c", "job-d"], ["job-e"]]


def test_pages_sorted_by_name_descending(five: TrainingJobs) -> None:
    pages = every_page(five, ListQuery(sort_by="name", descending=True, limit=3))

    assert pages == [["job-e", "job-d", "job-c"], ["job-b", "job-a"]]


def test_pages_sorted_by_status_break_ties_by_name(five: TrainingJobs) -> None:
    pages = every_page(five, ListQuery(sort_by="status", limit=2))

    # Completed, Failed, InProgress (b, d), Stopped.
    assert pages == [["job-a", "job-c"], ["job-b", "job-d"], ["job-e"]]


def test_a_job_added_between_pages_neither_repeats_nor_shifts_them(five: TrainingJobs) -> None:
    first = five.page(ListQuery(sort_by="created_at", limit=2))
    five.add(job("job-0", created_at=T0 - timedelta(minutes=1)))

    second = five.page(ListQuery(sort_by="created_at", limit=2, after=first.next))

    assert [j.name for j in second.items] == ["job-c", "job-d"]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        (ListQuery(name_contains="JOB-C"), ["job-c"]),
        (ListQuery(name_contains="%"), []),
        (ListQuery(status="InProgress"), ["job-b", "job-d"]),
        (ListQuery(created_after=T0 + timedelta(minutes=2)), ["job-d", "job-e"]),
        (ListQuery(created_before=T0 + timedelta(minutes=1)), ["job-a"]),
        (ListQuery(modified_after=T0 + timedelta(hours=2, minutes=2)), ["job-d", "job-e"]),
        (ListQuery(modified_before=T0 + timedelta(hours=1, minutes=1)), ["job-a"]),
        (
            ListQuery(
                status="InProgress", created_after=T0 + timedelta(minutes=1), name_contains="job"
            ),
            ["job-d"],
        ),
    ],
)
def test_filters_keep_only_the_matching_jobs(
    five: TrainingJobs, query: ListQuery, names: list[str]
) -> None:
    page = five.page(query)

    assert [j.name for j in page.items] == names
    assert page.next is None


def test_update_changes_every_field_it_is_given(jobs: TrainingJobs) -> None:
    jobs.add(job("churn"))
    start, end = T0 + timedelta(seconds=3), T0 + timedelta(seconds=60)
    transitions = (
        StatusTransition(status=SecondaryStatus.STARTING, start=T0, end=start),
        StatusTransition(status=SecondaryStatus.FAILED, start=end, end=end, message="boom"),
    )

    updated = jobs.update(
        "CHURN",
        status=TrainingJobStatus.FAILED,
        secondary_status=SecondaryStatus.FAILED,
        training_start=start,
        training_end=end,
        failure_reason="AlgorithmError: boom",
        model_artifacts="s3://bucket/out/churn/output/model.tar.gz",
        final_metrics={"loss": 0.5},
        transitions=transitions,
        runner=None,
        last_modified=end,
    )

    expected = dataclasses.replace(
        job("churn"),
        status=TrainingJobStatus.FAILED,
        secondary_status=SecondaryStatus.FAILED,
        training_start=start,
        training_end=end,
        failure_reason="AlgorithmError: boom",
        model_artifacts="s3://bucket/out/churn/output/model.tar.gz",
        final_metrics={"loss": 0.5},
        transitions=transitions,
        runner=None,
        last_modified=end,
    )
    assert updated == expected
    assert jobs.get("churn") == expected


def test_update_leaves_the_fields_it_is_not_given(jobs: TrainingJobs) -> None:
    jobs.add(job("churn"))

    updated = jobs.update("churn", runner="host:2")

    assert updated == job("churn", runner="host:2")


def test_update_with_the_expected_status_changes_the_job(jobs: TrainingJobs) -> None:
    jobs.add(job("churn"))

    stopping = jobs.update(
        "churn",
        expected=(TrainingJobStatus.IN_PROGRESS,),
        status=TrainingJobStatus.STOPPING,
        secondary_status=SecondaryStatus.STOPPING,
    )

    assert stopping is not None and stopping.status is TrainingJobStatus.STOPPING
    assert stopping.secondary_status is SecondaryStatus.STOPPING


def test_update_from_another_status_changes_nothing(jobs: TrainingJobs) -> None:
    jobs.add(job("churn", status=TrainingJobStatus.COMPLETED))

    refused = jobs.update(
        "churn",
        expected=(TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING),
        status=TrainingJobStatus.FAILED,
        failure_reason="late",
    )

    assert refused is None
    assert jobs.get("churn") == job("churn", status=TrainingJobStatus.COMPLETED)


def test_update_of_an_unknown_job_is_none(jobs: TrainingJobs) -> None:
    assert jobs.update("nope", runner="host:2") is None
    assert jobs.update("nope") is None


def test_update_without_changes_answers_the_job_if_its_status_matches(
    jobs: TrainingJobs,
) -> None:
    jobs.add(job("churn"))

    assert jobs.update("churn", expected=(TrainingJobStatus.IN_PROGRESS,)) == job("churn")
    assert jobs.update("churn", expected=(TrainingJobStatus.STOPPING,)) is None


def test_update_refuses_fields_that_cannot_change(jobs: TrainingJobs) -> None:
    jobs.add(job("churn"))

    with pytest.raises(TypeError, match="arn, name"):
        jobs.update("churn", name="other", arn="arn:other", runner=None)

    assert jobs.get("churn") == job("churn")


def test_of_many_finishing_one_job_at_once_one_succeeds(jobs: TrainingJobs) -> None:
    jobs.add(job("churn"))
    racers = 4
    barrier = threading.Barrier(racers)
    results: list[TrainingJob | None] = []

    def finish(index: int) -> None:
        barrier.wait()
        results.append(
            jobs.update(
                "churn",
                expected=(TrainingJobStatus.IN_PROGRESS,),
                status=TrainingJobStatus.COMPLETED,
                runner=f"host:{index}",
            )
        )

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [r for r in results if r is not None]
    assert len(results) == racers and len(winners) == 1
    assert jobs.get("churn") == winners[0]


def test_unfinished_jobs_are_those_in_progress_or_stopping(jobs: TrainingJobs) -> None:
    for name, status in [
        ("e", TrainingJobStatus.STOPPING),
        ("a", TrainingJobStatus.COMPLETED),
        ("d", TrainingJobStatus.IN_PROGRESS),
        ("b", TrainingJobStatus.FAILED),
        ("c", TrainingJobStatus.STOPPED),
    ]:
        jobs.add(job(name, status=status))

    assert [j.name for j in jobs.unfinished()] == ["d", "e"]
    jobs.update("d", status=TrainingJobStatus.COMPLETED)
    assert [j.name for j in jobs.unfinished()] == ["e"]
