"""The database schema of modelyard, as SQLAlchemy Core tables.

This is the schema the latest migration produces; the migrations in
``modelyard/storage/migrations`` are what change a database, and a test checks that the
two agree. Change both together: edit a table here, then add a revision.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
)

__all__ = [
    "endpoint_configs",
    "endpoints",
    "metadata",
    "models",
    "sagemaker_models",
    "tags",
]

#: Constraint names are spelled out so migrations can refer to them on every database.
metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: Models registered by ``POST /models`` (SageMaker's LoadModel), so a restart reloads them.
models = Table(
    "models",
    metadata,
    Column("name", Text, primary_key=True),
    Column("url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # JSON text rather than a JSON column: the same on SQLite and PostgreSQL, and never
    # queried into.
    Column("settings", Text, nullable=True),
)

# -- endpoints (SageMaker's control plane) --------------------------------------------------
# Names are unique whatever their case, as in SageMaker, whose ARNs spell them in lower
# case: ``key`` is the lower-case name, ``name`` the name as it was given. Nested documents
# are JSON text, like ``models.settings``.

#: SageMaker models (CreateModel): where an endpoint's artifacts come from.
sagemaker_models = Table(
    "sagemaker_models",
    metadata,
    Column("key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("execution_role_arn", Text, nullable=True),
    # ContainerDefinition documents, as given: one or the other is set.
    Column("primary_container", Text, nullable=True),
    Column("containers", Text, nullable=True),
)

#: Endpoint configurations (CreateEndpointConfig): production variants, data capture.
endpoint_configs = Table(
    "endpoint_configs",
    metadata,
    Column("key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("production_variants", Text, nullable=False),
    Column("data_capture_config", Text, nullable=True),
)

#: Endpoints (CreateEndpoint): their status and the variants they serve right now.
endpoints = Table(
    "endpoints",
    metadata,
    Column("key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("config_name", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("failure_reason", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    # The variants being served, with the model each was deployed from (a copy: the
    # model and the config may be deleted while the endpoint runs, as in SageMaker).
    Column("variants", Text, nullable=False),
    Column("data_capture_config", Text, nullable=True),
    # While Updating to another config: that config's name and its variants to deploy.
    Column("pending_config_name", Text, nullable=True),
    Column("pending_variants", Text, nullable=True),
    Column("pending_data_capture_config", Text, nullable=True),
)

#: Tags of models, endpoint configs and endpoints (AddTags), by resource type and key.
tags = Table(
    "tags",
    metadata,
    Column("resource_type", Text, nullable=False),
    Column("resource_key", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("resource_type", "resource_key", "key"),
    # The endpoint metadata registry asks "which endpoints have a `category` tag".
    Index("ix_tags_resource_type_key", "resource_type", "key"),
)
