"""The gateway area's storage: REST APIs, their deployments and stages, API keys and usage
plans.

One repository, :class:`GatewayStore`, with one query per intent, each its own
transaction. An API's definition is one JSON document, read and written whole; writes
name the version they read (optimistic concurrency), so two requests changing one API at
once cannot lose each other's change: the later one finds the version moved and retries
on what the first wrote. Everything of an API hangs off it by foreign keys that cascade:
deleting an API deletes its deployments and stages; deleting a usage plan or an API key
takes it out of the plans it was in.

Lists are keyset pages by id (``after`` is the last id of the previous page), so records
added or removed between two pages neither repeat nor shift the rest; encoding ``after``
into a ``position`` is the protocol's business. Times are written converted to UTC. The
records are in :mod:`modelyard.storage.gateway_records` and exported from here too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelyard.errors import InvalidRequest
from modelyard.storage.gateway_records import (
    KEEP,
    ApiKeyRecord,
    Keep,
    StoredApi,
    StoredDeployment,
    StoredStage,
    StoredUsagePlan,
    api_from_row,
    api_key_from_row,
    deployment_from_row,
    dumps,
    stage_from_row,
    usage_plan_from_row,
)
from modelyard.storage.listing import utc
from modelyard.storage.repository import Repository
from modelyard.storage.schema import (
    api_deployments,
    api_keys,
    api_stages,
    rest_apis,
    usage_plan_keys,
    usage_plans,
)

__all__ = [
    "KEEP",
    "ApiKeyRecord",
    "DeploymentInUse",
    "GatewayStore",
    "Keep",
    "StoredApi",
    "StoredDeployment",
    "StoredStage",
    "StoredUsagePlan",
]

T = TypeVar("T")

#: The page size when none is given: API Gateway's default ``limit``.
DEFAULT_LIMIT = 25

#: Usage plans joined to their keys' links, as ``plans_of_key`` reads them.
_KEY_OF_PLAN = usage_plan_keys.c.plan_id == usage_plans.c.id

#: API keys joined to their plans' links, as ``usage_plan_keys`` reads them.
_PLAN_OF_KEY = usage_plan_keys.c.key_id == api_keys.c.id


class DeploymentInUse(InvalidRequest):
    """Active stages pointing to this deployment must be moved or deleted."""

    def __init__(self, message: str | None = None, *, stages: Sequence[str] = ()) -> None:
        super().__init__(message)
        #: The stages serving the deployment, by name (empty if one was being added as the
        #: deployment was being deleted).
        self.stages = tuple(stages)


class GatewayStore(Repository):
    """The repository of the gateway area's records: one query per intent.

    Methods that add a record answer ``False`` rather than raise when the record's key is
    taken, and also when what it belongs to (its API, its deployment) does not exist: both
    are constraint violations to the database, and the caller, which looked up the API
    first, knows it exists unless it was deleted in between.
    """

    # -- REST APIs --------------------------------------------------------------------------

    def add_api(self, api: StoredApi) -> bool:
        """Add ``api`` at its ``version`` (1 for a new API); ``False`` if an API has its id."""
        return self._add(
            insert(rest_apis).values(
                id=api.id,
                name=api.name,
                created_at=utc(api.created_at),
                version=api.version,
                document=dumps(api.document),
            )
        )

    def get_api(self, api_id: str) -> StoredApi | None:
        """The API ``api_id``, or ``None``."""
        return self._one(select(rest_apis).where(rest_apis.c.id == api_id), api_from_row)

    def list_apis(
        self, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[StoredApi], str | None]:
        """Up to ``limit`` APIs by id, after the id ``after``; and the ``after`` of the next
        page, ``None`` on the last."""
        return self._page(select(rest_apis), rest_apis.c.id, after, limit, api_from_row)

    def replace_api(
        self, api_id: str, *, expected_version: int, name: str, document: Mapping[str, Any]
    ) -> StoredApi | None:
        """Replace the name and document of the API ``api_id`` if it is still at
        ``expected_version``, moving it to the next version; the API as it now is.

        ``None`` if another write moved the version meanwhile (read it again, apply the
        change again, replace again) or if the API is gone.
        """
        apis = rest_apis.c
        statement = (
            update(rest_apis)
            # The version check and the write are one statement: a concurrent replace
            # waits for the row, then finds the version it expected gone.
            .where(apis.id == api_id, apis.version == expected_version)
            .values(name=name, document=dumps(document), version=apis.version + 1)
        )
        with self._db.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                return None
            row = connection.execute(select(rest_apis).where(apis.id == api_id)).one()
        return api_from_row(row)

    def delete_api(self, api_id: str) -> bool:
        """Delete the API ``api_id`` with its deployments and stages; ``False`` if there was
        none."""
        return self._change(delete(rest_apis).where(rest_apis.c.id == api_id)) > 0

    # -- deployments ------------------------------------------------------------------------

    def add_deployment(self, deployment: StoredDeployment) -> bool:
        """Add ``deployment``; ``False`` if its API has a deployment of its id, or has gone."""
        return self._add(
            insert(api_deployments).values(
                api_id=deployment.api_id,
                id=deployment.id,
                description=deployment.description,
                created_at=utc(deployment.created_at),
                document=dumps(deployment.document),
            )
        )

    def get_deployment(self, api_id: str, deployment_id: str) -> StoredDeployment | None:
        """The deployment ``deployment_id`` of ``api_id``, or ``None``."""
        statement = select(api_deployments).where(_is_deployment(api_id, deployment_id))
        return self._one(statement, deployment_from_row)

    def list_deployments(
        self, api_id: str, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[StoredDeployment], str | None]:
        """Up to ``limit`` deployments of ``api_id`` by id, after ``after``; and the
        ``after`` of the next page, ``None`` on the last."""
        statement = select(api_deployments).where(api_deployments.c.api_id == api_id)
        return self._page(statement, api_deployments.c.id, after, limit, deployment_from_row)

    def update_deployment(
        self, api_id: str, deployment_id: str, *, description: str | None
    ) -> StoredDeployment | None:
        """Change the description of the deployment ``deployment_id`` of ``api_id`` (what
        it froze never changes); the deployment as it now is, ``None`` if there is none."""
        where = _is_deployment(api_id, deployment_id)
        statement = update(api_deployments).where(where).values(description=description)
        with self._db.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                return None
            row = connection.execute(select(api_deployments).where(where)).one()
        return deployment_from_row(row)

    def delete_deployment(self, api_id: str, deployment_id: str) -> bool:
        """Delete the deployment ``deployment_id`` of ``api_id``; ``False`` if there was none.

        Raises :class:`DeploymentInUse` (and deletes nothing) while a stage serves it, or
        serves it to its canary (``canarySettings.deploymentId`` of the stage's document).
        """
        stages = api_stages.c
        of_api = (
            select(stages.name, stages.deployment_id, stages.document)
            .where(stages.api_id == api_id)
            .order_by(stages.name)
        )
        with self._db.begin() as connection:
            names = [
                row.name
                for row in connection.execute(of_api)
                if deployment_id in (row.deployment_id, _canary_deployment(row.document))
            ]
            if names:
                raise DeploymentInUse(stages=names)
            try:
                with connection.begin_nested():
                    result = connection.execute(
                        delete(api_deployments).where(_is_deployment(api_id, deployment_id))
                    )
            except IntegrityError as exc:
                # A stage pointed at it after the check (PostgreSQL only: on SQLite the
                # transaction holds the write lock from its start).
                raise DeploymentInUse() from exc
            return result.rowcount > 0

    # -- stages -----------------------------------------------------------------------------

    def add_stage(self, stage: StoredStage) -> bool:
        """Add ``stage``; ``False`` if its API has a stage of its name, or it or the
        deployment the stage serves does not exist."""
        return self._add(
            insert(api_stages).values(
                api_id=stage.api_id,
                name=stage.name,
                deployment_id=stage.deployment_id,
                created_at=utc(stage.created_at),
                last_updated_at=utc(stage.last_updated_at),
                document=dumps(stage.document),
            )
        )

    def get_stage(self, api_id: str, name: str) -> StoredStage | None:
        """The stage ``name`` of ``api_id`` (the case must match), or ``None``."""
        return self._one(select(api_stages).where(_is_stage(api_id, name)), stage_from_row)

    def list_stages(self, api_id: str) -> list[StoredStage]:
        """The stages of ``api_id``, by name (GetStages does not page)."""
        statement = select(api_stages).where(api_stages.c.api_id == api_id)
        return self._all(statement.order_by(api_stages.c.name), stage_from_row)

    def update_stage(
        self,
        api_id: str,
        name: str,
        *,
        deployment_id: str | Keep = KEEP,
        document: Mapping[str, Any] | Keep = KEEP,
        now: datetime,
    ) -> StoredStage | None:
        """Change the fields given of the stage ``name`` of ``api_id``, and its
        ``last_updated_at`` to ``now``; the stage as it now is.

        ``None`` if there is no such stage, or if ``deployment_id`` names no deployment of
        the API (nothing is changed then).
        """
        values: dict[str, Any] = {"last_updated_at": utc(now)}
        if not isinstance(deployment_id, Keep):
            values["deployment_id"] = deployment_id
        if not isinstance(document, Keep):
            values["document"] = dumps(document)
        with self._db.begin() as connection:
            try:
                with connection.begin_nested():
                    result = connection.execute(
                        update(api_stages).where(_is_stage(api_id, name)).values(**values)
                    )
            except IntegrityError:
                return None
            if result.rowcount == 0:
                return None
            row = connection.execute(select(api_stages).where(_is_stage(api_id, name))).one()
        return stage_from_row(row)

    def delete_stage(self, api_id: str, name: str) -> bool:
        """Delete the stage ``name`` of ``api_id``; ``False`` if there was none."""
        return self._change(delete(api_stages).where(_is_stage(api_id, name))) > 0

    # -- API keys ---------------------------------------------------------------------------

    def add_api_key(self, key: ApiKeyRecord) -> bool:
        """Add ``key``; ``False`` if a key has its id or its value's hash."""
        return self._add(
            insert(api_keys).values(
                id=key.id,
                value_hash=key.value_hash,
                name=key.name,
                description=key.description,
                enabled=key.enabled,
                customer_id=key.customer_id,
                created_at=utc(key.created_at),
                last_updated_at=utc(key.last_updated_at),
            )
        )

    def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The API key ``key_id`` (enabled or not), or ``None``."""
        return self._one(select(api_keys).where(api_keys.c.id == key_id), api_key_from_row)

    def api_key_by_hash(self, value_hash: str) -> ApiKeyRecord | None:
        """The API key whose value's SHA-256 (hex) is ``value_hash`` (enabled or not), or
        ``None``."""
        statement = select(api_keys).where(api_keys.c.value_hash == value_hash)
        return self._one(statement, api_key_from_row)

    def list_api_keys(
        self, *, after: str | None = None, limit: int = DEFAULT_LIMIT
    ) -> tuple[list[ApiKeyRecord], str | None]:
        """Up to ``limit`` API keys by id, after ``after``; and the ``after`` of the next
        page, ``None`` on the last."""
        return self._page(select(api_keys), api_keys.c.id, after, limit, api_key_from_row)

    def update_api_key(
        self,
        key_id: str,
        *,
        name: str | Keep = KEEP,
        description: str | Keep | None = KEEP,
        enabled: bool | Keep = KEEP,
        customer_id: str | Keep | None = KEEP,
        now: datetime,
    ) -> ApiKeyRecord | None:
        """Change the fields given of the API key ``key_id``, and its ``last_updated_at`` to
        ``now``; the key as it now is, ``None`` if there is none."""
        values: dict[str, Any] = {"last_updated_at": utc(now)}
        if not isinstance(name, Keep):
            values["name"] = name
        if not isinstance(description, Keep):
            values["description"] = description
        if not isinstance(enabled, Keep):
            values["enabled"] = enabled
        if not isinstance(customer_id, Keep):
            values["customer_id"] = customer_id
        keys = api_keys.c
        with self._db.begin() as connection:
            statement = update(api_keys).where(keys.id == key_id).values(**values)
            if connection.execute(statement).rowcount == 0:
                return None
            row = connection.execute(select(api_keys).where(keys.id == key_id)).one()
        return api_key_from_row(row)

    def delete_api_key(self, key_id: str) -> bool:
        """Delete the API key ``key_id``, taking it out of its usage plans; ``False`` if
        there was none."""
        return self._change(delete(api_keys).where(api_keys.c.id == key_id)) > 0

    # -- usage plans ------------------------------------------------------------------------

    def add_usage_plan(self, plan: StoredUsagePlan) -> bool:
        """Add ``plan``; ``False`` if a plan has its id."""
        return self._add(
            insert(usage_plans).values(
                id=plan.id,
                name=plan.name,
                created_at=utc(plan.created_at),
                document=dumps(plan.document),
            )
        )

    def get_usage_plan(self, plan_id: str) -> StoredUsagePlan | None:
        """The usage plan ``plan_id``, or ``None``."""
        statement = select(usage_plans).where(usage_plans.c.id == plan_id)
        return self._one(statement, usage_plan_from_row)

    def list_usage_plans(
        self, *, after: str | None = None, limit: int = DEFAULT_LIMIT, key_id: str | None = None
    ) -> tuple[list[StoredUsagePlan], str | None]:
        """Up to ``limit`` usage plans by id, after ``after`` (only those the API key
        ``key_id`` is in, if given); and the ``after`` of the next page, ``None`` on the
        last."""
        statement = select(usage_plans)
        if key_id is not None:
            statement = statement.join(usage_plan_keys, _KEY_OF_PLAN).where(
                usage_plan_keys.c.key_id == key_id
            )
        return self._page(statement, usage_plans.c.id, after, limit, usage_plan_from_row)

    def replace_usage_plan(
        self, plan_id: str, *, name: str, document: Mapping[str, Any]
    ) -> StoredUsagePlan | None:
        """Replace the name and document of the usage plan ``plan_id``; the plan as it now
        is, ``None`` if there is none."""
        plans = usage_plans.c
        statement = (
            update(usage_plans)
            .where(plans.id == plan_id)
            .values(name=name, document=dumps(document))
        )
        with self._db.begin() as connection:
            if connection.execute(statement).rowcount == 0:
                return None
            row = connection.execute(select(usage_plans).where(plans.id == plan_id)).one()
        return usage_plan_from_row(row)

    def delete_usage_plan(self, plan_id: str) -> bool:
        """Delete the usage plan ``plan_id`` (not its keys); ``False`` if there was none."""
        return self._change(delete(usage_plans).where(usage_plans.c.id == plan_id)) > 0

    def add_usage_plan_key(self, plan_id: str, key_id: str) -> bool:
        """Put the API key ``key_id`` in the usage plan ``plan_id``; ``False`` if it is in
        already, or either does not exist."""
        return self._add(insert(usage_plan_keys).values(plan_id=plan_id, key_id=key_id))

    def remove_usage_plan_key(self, plan_id: str, key_id: str) -> bool:
        """Take the API key ``key_id`` out of the usage plan ``plan_id``; ``False`` if it
        was not in."""
        links = usage_plan_keys.c
        statement = delete(usage_plan_keys).where(links.plan_id == plan_id, links.key_id == key_id)
        return self._change(statement) > 0

    def usage_plan_keys(self, plan_id: str) -> list[ApiKeyRecord]:
        """The API keys in the usage plan ``plan_id``, by id."""
        statement = (
            select(api_keys)
            .join(usage_plan_keys, _PLAN_OF_KEY)
            .where(usage_plan_keys.c.plan_id == plan_id)
            .order_by(api_keys.c.id)
        )
        return self._all(statement, api_key_from_row)

    def plans_of_key(self, key_id: str) -> list[StoredUsagePlan]:
        """The usage plans the API key ``key_id`` is in, by id."""
        statement = (
            select(usage_plans)
            .join(usage_plan_keys, _KEY_OF_PLAN)
            .where(usage_plan_keys.c.key_id == key_id)
            .order_by(usage_plans.c.id)
        )
        return self._all(statement, usage_plan_from_row)


def _is_deployment(api_id: str, deployment_id: str) -> ColumnElement[bool]:
    deployments = api_deployments.c
    return and_(deployments.api_id == api_id, deployments.id == deployment_id)


def _canary_deployment(document: str) -> object:
    """The deployment a stage's canary serves, from the stage's document; ``None`` if none."""
    canary = json.loads(document).get("canarySettings")
    return canary.get("deploymentId") if isinstance(canary, dict) else None


def _is_stage(api_id: str, name: str) -> ColumnElement[bool]:
    return and_(api_stages.c.api_id == api_id, api_stages.c.name == name)
