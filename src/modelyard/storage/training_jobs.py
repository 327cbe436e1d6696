"""Training jobs (CreateTrainingJob), kept in the database.

A job's row holds what was asked, as sent (JSON text, never queried into), and what has
come of it: its statuses, times, metrics and artifacts. Every change is one UPDATE that may
name the statuses it starts from (:meth:`TrainingJobs.update`), so two processes cannot
both finish a job, and a stop racing an ending changes nothing once the job has ended.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, insert, select, update

from modelyard.storage.listing import ListQuery, Page, fetch_page, name_key, utc
from modelyard.storage.repository import Repository
from modelyard.storage.schema import training_jobs
from modelyard.storage.training_records import (
    SecondaryStatus,
    StatusTransition,
    TrainingJob,
    TrainingJobStatus,
)

__all__ = ["TrainingJobs"]

#: The statuses of a job that has not ended (what a restarted server looks after).
_UNFINISHED = (TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING)


class TrainingJobs(Repository):
    """The repository of :class:`TrainingJob`: one query per intent."""

    def add(self, job: TrainingJob) -> bool:
        """Record ``job``; ``False`` if its name is taken (in any case)."""
        return self._add(
            insert(training_jobs).values(
                key=name_key(job.name),
                name=job.name,
                arn=job.arn,
                algorithm=_encode(job.algorithm),
                hyperparameters=_encode(job.hyperparameters),
                input_data_config=_encode(job.input_data_config),
                output_data_config=_encode(job.output_data_config),
                resource_config=_encode(job.resource_config),
                stopping_condition=_encode(job.stopping_condition),
                environment=_encode(job.environment),
                role_arn=job.role_arn,
                created_at=utc(job.created_at),
                **_columns(
                    {
                        "status": job.status,
                        "secondary_status": job.secondary_status,
                        "last_modified": job.last_modified,
                        "training_start": job.training_start,
                        "training_end": job.training_end,
                        "failure_reason": job.failure_reason,
                        "model_artifacts": job.model_artifacts,
                        "final_metrics": job.final_metrics,
                        "transitions": job.transitions,
                        "runner": job.runner,
                    }
                ),
            )
        )

    def get(self, name: str) -> TrainingJob | None:
        """The job called ``name`` (in any case), or ``None``."""
        return self._one(select(training_jobs).where(training_jobs.c.key == name_key(name)), _job)

    def page(self, query: ListQuery) -> Page[TrainingJob]:
        """A page of jobs (ListTrainingJobs): ``query.sort_by`` is ``name``,
        ``created_at`` or ``status``; ``query.status`` a :class:`TrainingJobStatus` value."""
        with self._db.read() as connection:
            return fetch_page(connection, training_jobs, query, _job)

    def update(
        self,
        name: str,
        /,
        *,
        expected: Collection[TrainingJobStatus] | None = None,
        **changes: Any,
    ) -> TrainingJob | None:
        """Change the fields ``changes`` names of job ``name``, if its status is one of
        ``expected`` (any status when ``None``); the job as it now is, or ``None`` if there
        is no such job or its status was another.

        The check and the change are one statement, so of two processes finishing a job
        from ``InProgress`` only one succeeds. Fields that may change: ``status``,
        ``secondary_status``, ``training_start``, ``training_end``, ``failure_reason``,
        ``model_artifacts``, ``final_metrics``, ``transitions``, ``runner`` and
        ``last_modified`` (never set unless given). Raises :class:`TypeError` for others.
        """
        values = _columns(changes)
        conditions = [training_jobs.c.key == name_key(name)]
        if expected is not None:
            conditions.append(
                training_jobs.c.status.in_([TrainingJobStatus(s).value for s in expected])
            )
        with self._db.begin() as connection:
            if values:
                result = connection.execute(
                    update(training_jobs).where(*conditions).values(**values)
                )
                if result.rowcount == 0:
                    return None
                # Read back by key alone: the update may have left the expected statuses.
                conditions = conditions[:1]
            row = connection.execute(select(training_jobs).where(*conditions)).one_or_none()
        return None if row is None else _job(row)

    def unfinished(self) -> list[TrainingJob]:
        """Every job InProgress or Stopping, by name (to recover them after a restart)."""
        return self._all(
            select(training_jobs)
            .where(training_jobs.c.status.in_([s.value for s in _UNFINISHED]))
            .order_by(training_jobs.c.key),
            _job,
        )


def _encode(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS).decode()


def _moment(moment: datetime | None) -> datetime | None:
    return None if moment is None else utc(moment)


def _as_is(value: Any) -> Any:
    return value


def _encode_metrics(metrics: Mapping[str, float]) -> str:
    return _encode({name: float(value) for name, value in metrics.items()})


def _encode_transitions(transitions: Collection[StatusTransition]) -> str:
    return _encode(
        [
            {
                "status": t.status.value,
                "start": utc(t.start).isoformat(),
                "end": None if t.end is None else utc(t.end).isoformat(),
                "message": t.message,
            }
            for t in transitions
        ]
    )


#: The fields :meth:`TrainingJobs.update` may change: each one's column and how its value
#: is written there.
_CHANGEABLE: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "status": ("status", lambda status: TrainingJobStatus(status).value),
    "secondary_status": ("secondary_status", lambda status: SecondaryStatus(status).value),
    "last_modified": ("last_modified_at", utc),
    "training_start": ("training_start", _moment),
    "training_end": ("training_end", _moment),
    "failure_reason": ("failure_reason", _as_is),
    "model_artifacts": ("model_artifacts", _as_is),
    "final_metrics": ("final_metrics", _encode_metrics),
    "transitions": ("transitions", _encode_transitions),
    "runner": ("runner", _as_is),
}


def _columns(changes: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(changes) - set(_CHANGEABLE))
    if unknown:
        raise TypeError(f"training job fields that cannot change: {', '.join(unknown)}")
    values = {}
    for field, value in changes.items():
        column, encode = _CHANGEABLE[field]
        values[column] = encode(value)
    return values


def _metrics(text: str) -> dict[str, float]:
    # orjson writes NaN and the infinities as null: a metric that printed "nan" reads back
    # as NaN rather than failing the whole job's read.
    return {
        name: float("nan") if value is None else float(value)
        for name, value in orjson.loads(text).items()
    }


def _transition(document: Mapping[str, Any]) -> StatusTransition:
    end = document["end"]
    return StatusTransition(
        status=SecondaryStatus(document["status"]),
        start=datetime.fromisoformat(document["start"]),
        end=None if end is None else datetime.fromisoformat(end),
        message=document["message"],
    )


def _job(row: Row[Any]) -> TrainingJob:
    return TrainingJob(
        name=row.name,
        arn=row.arn,
        status=TrainingJobStatus(row.status),
        secondary_status=SecondaryStatus(row.secondary_status),
        algorithm=orjson.loads(row.algorithm),
        hyperparameters=orjson.loads(row.hyperparameters),
        input_data_config=orjson.loads(row.input_data_config),
        output_data_config=orjson.loads(row.output_data_config),
        resource_config=orjson.loads(row.resource_config),
        stopping_condition=orjson.loads(row.stopping_condition),
        role_arn=row.role_arn,
        environment=orjson.loads(row.environment),
        created_at=utc(row.created_at),
        last_modified=utc(row.last_modified_at),
        training_start=_moment(row.training_start),
        training_end=_moment(row.training_end),
        failure_reason=row.failure_reason,
        model_artifacts=row.model_artifacts,
        final_metrics=_metrics(row.final_metrics),
        transitions=tuple(_transition(d) for d in orjson.loads(row.transitions)),
        runner=row.runner,
    )
