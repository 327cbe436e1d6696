"""API keys and usage plans: who may call an API stage, how fast and how much.

A key's value is shown once, when it is created, and stored only as its SHA-256 (a
request's ``x-api-key`` is hashed and looked up). A usage plan lists API stages with a
throttle (rate and burst, per plan and per method) and a quota (requests per day, week or
month); a key belongs to plans through usage plan keys.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, TypeVar

from modelyard.gateway import patches
from modelyard.gateway.errors import BadRequest, Conflict, GatewayNotFound
from modelyard.gateway.operations import Operations, new_id
from modelyard.gateway.patches import Field, Item, Op, PatchOperation
from modelyard.gateway.quotas import Period, Quota, QuotaCounters
from modelyard.storage.database import Database
from modelyard.storage.gateway import ApiKeyRecord, StoredUsagePlan

__all__ = ["KeyOperations", "NewApiKey", "hash_key"]

T = TypeVar("T")

_KEY_ALPHABET: Final = string.ascii_letters + string.digits
#: Seconds a key and its plans, looked up for a request, are used again.
KEY_FRESH_S: Final = 1.0
_MAX_KEPT: Final = 10_000
_PERIODS: Final = frozenset({"DAY", "WEEK", "MONTH"})


def _api_stage(value: str | None) -> dict[str, str]:
    """A usage plan's API stage as UpdateUsagePlan names it: ``"{apiId}:{stage}"``."""
    api_id, _, stage = patches.text(value).partition(":")
    if not api_id or not stage:
        raise ValueError("{apiId}:{stageName}")
    return {"apiId": api_id, "stage": stage}


#: UpdateApiKey's paths.
_API_KEY_PATHS: Final[tuple[patches.Rule, ...]] = (
    Field(path="/name", read=patches.text),
    Field(path="/description", read=patches.optional_text),
    Field(path="/enabled", read=patches.boolean),
    Field(path="/customerId", read=patches.optional_text),
)
#: UpdateApiKey's members, by the storage's name for them.
_KEY_FIELDS: Final = {
    "name": "name",
    "description": "description",
    "enabled": "enabled",
    "customer_id": "customerId",
}
#: UpdateUsagePlan's paths.
_USAGE_PLAN_PATHS: Final[tuple[patches.Rule, ...]] = (
    Field(path="/name", read=patches.nonblank),
    Field(path="/description", read=patches.optional_text),
    Field(path="/productCode", read=patches.optional_text),
    Field(path="/throttle/rateLimit", read=patches.number),
    Field(path="/throttle/burstLimit", read=patches.integer(0)),
    Field(path="/throttle", ops=frozenset({Op.REMOVE})),
    Field(path="/quota/limit", read=patches.integer(0)),
    Field(path="/quota/period", read=patches.choice(*sorted(_PERIODS))),
    Field(path="/quota/offset", read=patches.integer(0)),
    Field(path="/quota", ops=frozenset({Op.REMOVE})),
    Item(
        path="/apiStages",
        by_value=True,
        read=_api_stage,
        identity=lambda stage: (stage.get("apiId"), stage.get("stage")),
    ),
)


def hash_key(value: str) -> str:
    """How an API key value is stored and looked up."""
    return hashlib.sha256(value.encode()).hexdigest()


@dataclass(frozen=True, kw_only=True)
class NewApiKey:
    """A key just created: its record, and its value (shown this once)."""

    record: ApiKeyRecord
    value: str


class KeyOperations(Operations):
    """API keys and usage plans (see the module)."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_id,
    ) -> None:
        super().__init__(database=database, clock=clock, make_id=make_id)
        #: What :meth:`key_and_plans` found, by key value: (when, key, plans).
        self._kept: dict[str, tuple[float, ApiKeyRecord | None, list[StoredUsagePlan]]] = {}

    # -- API keys -------------------------------------------------------------------------

    async def create_api_key(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        enabled: bool = False,
        value: str | None = None,
        customer_id: str | None = None,
    ) -> NewApiKey:
        """CreateApiKey (AWS's default is a disabled key: ``enabled`` must be asked for)."""
        if value is not None and len(value) < 20:
            raise BadRequest("API Key value should be at least 20 characters")
        value = value or "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
        now = self._now()
        record = ApiKeyRecord(
            id=self._new_id(),
            value_hash=hash_key(value),
            name=name or "",
            description=description,
            enabled=enabled,
            customer_id=customer_id,
            created_at=now,
            last_updated_at=now,
        )
        if not await self._db(self._store.add_api_key, record):
            raise Conflict("API Key already exists")
        return NewApiKey(record=record, value=value)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        """GetApiKey (its value is never kept: it cannot be shown again)."""
        found = await self._db(self._store.get_api_key, key_id)
        if found is None:
            raise GatewayNotFound("Invalid API Key identifier specified")
        return found

    async def get_api_keys(
        self, *, after: str | None, limit: int
    ) -> tuple[list[ApiKeyRecord], str | None]:
        """GetApiKeys."""
        return await self._db(self._store.list_api_keys, after=after, limit=limit)

    async def update_api_key(
        self, key_id: str, operations: Sequence[PatchOperation]
    ) -> ApiKeyRecord:
        """UpdateApiKey: its name, description, customer, and whether it is enabled.

        Requests served in this process see the change at once (what :meth:`key_and_plans`
        kept is dropped); those of other processes sharing the database within
        :data:`KEY_FRESH_S`.
        """
        key = await self.get_api_key(key_id)
        current: dict[str, Any] = {
            "name": key.name,
            "description": key.description,
            "enabled": key.enabled,
            "customerId": key.customer_id,
        }
        given = {member: value for member, value in current.items() if value is not None}
        patched = patches.apply_patch(given, operations, _API_KEY_PATHS)
        changes = {
            field: patched.get(member)
            for field, member in _KEY_FIELDS.items()
            if patched.get(member) != current[member]
        }
        updated = await self._db(self._store.update_api_key, key_id, now=self._now(), **changes)
        self._kept.clear()
        if updated is None:
            raise GatewayNotFound("Invalid API Key identifier specified")
        return updated

    async def delete_api_key(self, key_id: str) -> None:
        """DeleteApiKey (its usage plan memberships go with it)."""
        self._kept.clear()
        if not await self._db(self._store.delete_api_key, key_id):
            raise GatewayNotFound("Invalid API Key identifier specified")

    async def key_of_value(self, value: str) -> ApiKeyRecord | None:
        """The key a request's ``x-api-key`` names, if any."""
        return await self._db(self._store.api_key_by_hash, hash_key(value))

    async def key_and_plans(self, value: str) -> tuple[ApiKeyRecord | None, list[StoredUsagePlan]]:
        """The key a request's ``x-api-key`` names and its usage plans, as the gateway
        checks them on every request: kept for :data:`KEY_FRESH_S` (a key disabled, or
        a plan changed, shows within that time)."""
        now = time.monotonic()
        kept = self._kept.get(value)
        if kept is not None and now - kept[0] < KEY_FRESH_S:
            return kept[1], kept[2]
        key = await self.key_of_value(value)
        plans = await self.plans_of_key(key.id) if key is not None else []
        if len(self._kept) >= _MAX_KEPT:
            self._kept.clear()
        self._kept[value] = (now, key, plans)
        return key, plans

    # -- usage plans ----------------------------------------------------------------------

    async def create_usage_plan(
        self,
        *,
        name: str,
        description: str | None = None,
        api_stages: Sequence[Mapping[str, Any]] = (),
        throttle: Mapping[str, Any] | None = None,
        quota: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> StoredUsagePlan:
        """CreateUsagePlan."""
        self._kept.clear()
        if not name:
            raise BadRequest("Usage plan name must be given")
        if quota is not None:
            _check_quota(quota)
        document: dict[str, Any] = {"name": name, "apiStages": [dict(s) for s in api_stages]}
        if description is not None:
            document["description"] = description
        if throttle is not None:
            document["throttle"] = dict(throttle)
        if quota is not None:
            document["quota"] = dict(quota)
        if tags:
            document["tags"] = dict(tags)
        plan = StoredUsagePlan(
            id=self._new_id(), name=name, created_at=self._now(), document=document
        )
        if not await self._db(self._store.add_usage_plan, plan):
            raise Conflict("Usage plan already exists")
        return plan

    async def get_usage_plan(self, plan_id: str) -> StoredUsagePlan:
        """GetUsagePlan."""
        found = await self._db(self._store.get_usage_plan, plan_id)
        if found is None:
            raise GatewayNotFound("Invalid Usage Plan ID specified")
        return found

    async def get_usage_plans(
        self, *, after: str | None, limit: int, key_id: str | None = None
    ) -> tuple[list[StoredUsagePlan], str | None]:
        """GetUsagePlans (those of ``key_id`` when given)."""
        return await self._db(self._store.list_usage_plans, after=after, limit=limit, key_id=key_id)

    async def update_usage_plan(
        self, plan_id: str, operations: Sequence[PatchOperation]
    ) -> StoredUsagePlan:
        """UpdateUsagePlan: its name, description, throttle, quota and API stages (shown
        to requests as :meth:`update_api_key`'s changes are)."""
        plan = await self.get_usage_plan(plan_id)
        document = patches.apply_patch(
            {**plan.document, "name": plan.name}, operations, _USAGE_PLAN_PATHS
        )
        if "quota" in document:
            _check_quota(document["quota"])
        updated = await self._db(
            self._store.replace_usage_plan, plan_id, name=document["name"], document=document
        )
        self._kept.clear()
        if updated is None:
            raise GatewayNotFound("Invalid Usage Plan ID specified")
        return updated

    async def delete_usage_plan(self, plan_id: str) -> None:
        """DeleteUsagePlan."""
        self._kept.clear()
        if not await self._db(self._store.delete_usage_plan, plan_id):
            raise GatewayNotFound("Invalid Usage Plan ID specified")

    async def create_usage_plan_key(self, plan_id: str, key_id: str, key_type: str) -> ApiKeyRecord:
        """CreateUsagePlanKey: the key joins the plan."""
        self._kept.clear()
        if key_type != "API_KEY":
            raise BadRequest("keyType must be API_KEY")
        await self.get_usage_plan(plan_id)
        key = await self.get_api_key(key_id)
        if not await self._db(self._store.add_usage_plan_key, plan_id, key_id):
            raise Conflict("Usage Plan Key already exists")
        return key

    async def get_usage_plan_keys(self, plan_id: str) -> list[ApiKeyRecord]:
        """GetUsagePlanKeys."""
        await self.get_usage_plan(plan_id)
        return await self._db(self._store.usage_plan_keys, plan_id)

    async def delete_usage_plan_key(self, plan_id: str, key_id: str) -> None:
        """DeleteUsagePlanKey."""
        self._kept.clear()
        if not await self._db(self._store.remove_usage_plan_key, plan_id, key_id):
            raise GatewayNotFound("Invalid Usage Plan Key identifier specified")

    async def usage(
        self,
        plan_id: str,
        start: date,
        end: date,
        key_id: str | None,
        quotas: QuotaCounters | None,
    ) -> dict[str, list[list[int]]]:
        """GetUsage: by key (``key_id``, or every key of the plan), each day's requests and
        what was left of the quota, from the counters the stages are served with."""
        plan = await self.get_usage_plan(plan_id)
        if end < start:
            raise BadRequest("endDate must not be before startDate")
        keys = [key_id] if key_id else [k.id for k in await self.get_usage_plan_keys(plan.id)]
        raw = plan.document.get("quota")
        usage: dict[str, list[list[int]]] = {}
        for key in keys:
            if quotas is None or not raw:
                # Only quotas are counted: a plan without one has no usage to report.
                usage[key] = [[0, 0] for _ in range((end - start).days + 1)]
                continue
            quota = Quota(
                limit=int(raw["limit"]),
                period=Period(raw["period"]),
                offset=int(raw.get("offset", 0)),
            )
            days = await quotas.usage(f"{plan.id}:{key}", quota, start, end)
            usage[key] = [list(days[day]) for day in sorted(days)]
        return usage

    async def plans_of_key(self, key_id: str) -> list[StoredUsagePlan]:
        """The usage plans a key belongs to."""
        return await self._db(self._store.plans_of_key, key_id)


def _check_quota(quota: Mapping[str, Any]) -> None:
    limit, period = quota.get("limit"), quota.get("period")
    if not isinstance(limit, int) or limit < 0:
        raise BadRequest("Quota limit must be a non-negative integer")
    if period not in _PERIODS:
        raise BadRequest("Quota period must be DAY, WEEK or MONTH")
    offset = quota.get("offset", 0)
    if not isinstance(offset, int) or not 0 <= offset < limit + 1:
        raise BadRequest("Quota offset must be between 0 and the limit")
