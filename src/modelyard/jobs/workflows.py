"""The jobs' view of the workflows area: :class:`JobWorkflows` over the WorkflowService."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Connection

from modelyard.storage.executions import Execution, ExecutionStatus
from modelyard.workflows.service import WorkflowService
from modelyard.workflows.service_errors import StateMachineDoesNotExist

__all__ = ["WorkflowsForJobs"]


class WorkflowsForJobs:
    """What :class:`~modelyard.jobs.service.JobService` needs, from the workflows facade."""

    def __init__(self, workflows: WorkflowService, *, role_arn: str) -> None:
        self._workflows = workflows
        self._role_arn = role_arn

    async def ensure_state_machine(self, name: str, definition: str) -> str:
        """The ARN of state machine ``name``, created or updated to ``definition``."""
        arn = self._workflows.arns.state_machine(name)
        try:
            machine = await self._workflows.describe_state_machine(arn)
        except StateMachineDoesNotExist:
            # Idempotent: a process creating it at the same time with the same
            # definition gets the same machine.
            await self._workflows.create_state_machine(
                name=name, definition=definition, role_arn=self._role_arn
            )
            return arn
        if machine.definition != definition:
            await self._workflows.update_state_machine(arn, definition=definition)
        return arn

    async def start_execution(
        self,
        state_machine_arn: str,
        *,
        name: str,
        input: str,
        also: Callable[[Connection], None] | None = None,
    ) -> tuple[str, datetime]:
        """Start an execution; ``also`` runs in the transaction that records it."""
        return await self._workflows.start_execution(
            state_machine_arn, name=name, input=input, also=also
        )

    async def execution(self, arn: str) -> tuple[Execution, bool]:
        """The execution and whether a runner has taken it up (it has more than its
        ``ExecutionStarted`` event)."""
        execution = (await self._workflows.describe_execution(arn)).execution
        if execution.status is not ExecutionStatus.RUNNING:
            return execution, True
        page = await self._workflows.get_execution_history(
            arn, after=None, reverse=False, limit=2, include_data=False
        )
        return execution, len(page.events) > 1

    async def stop_execution(
        self, arn: str, *, error: str | None = None, cause: str | None = None
    ) -> datetime:
        """Stop (abort) the execution."""
        return await self._workflows.stop_execution(arn, error=error, cause=cause)
