"""The database schema of modelyard, as SQLAlchemy Core tables.

This is the schema the latest migration produces; the migrations in
``modelyard/storage/migrations`` are what change a database, and a test checks that the
two agree. Change both together: edit a table here, then add a revision.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)

__all__ = [
    "access_keys",
    "api_deployments",
    "api_keys",
    "api_stages",
    "endpoint_configs",
    "endpoints",
    "execution_events",
    "executions",
    "functions",
    "identity_groups",
    "identity_memberships",
    "identity_refresh_tokens",
    "identity_users",
    "jobs",
    "metadata",
    "models",
    "rest_apis",
    "sagemaker_models",
    "signing_keys",
    "state_machine_revisions",
    "state_machines",
    "tags",
    "training_jobs",
    "usage_plan_keys",
    "usage_plans",
    "user_pool_clients",
    "user_pools",
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

#: Training jobs (CreateTrainingJob): what was asked, as sent, and what has come of it.
#: ``key`` and ``name`` as for endpoints (the job's ARN spells its name in lower case).
#: What was asked is JSON text, kept whole; ``transitions`` (SecondaryStatusTransitions)
#: is a JSON list of ``{status, start, end, message}`` with ISO 8601 times.
training_jobs = Table(
    "training_jobs",
    metadata,
    Column("key", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("arn", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("secondary_status", Text, nullable=False),
    Column("algorithm", Text, nullable=False),
    Column("hyperparameters", Text, nullable=False),
    Column("input_data_config", Text, nullable=False),
    Column("output_data_config", Text, nullable=False),
    Column("resource_config", Text, nullable=False),
    Column("stopping_condition", Text, nullable=False),
    Column("environment", Text, nullable=False),
    Column("role_arn", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    Column("training_start", DateTime(timezone=True), nullable=True),
    Column("training_end", DateTime(timezone=True), nullable=True),
    Column("failure_reason", Text, nullable=True),
    Column("model_artifacts", Text, nullable=True),
    Column("final_metrics", Text, nullable=False),
    Column("transitions", Text, nullable=False),
    # ``<host>:<pid>`` of the server process running the job, while it runs.
    Column("runner", Text, nullable=True),
    # ListTrainingJobs sorts by CreationTime, Name or Status, the key breaking ties; the
    # status one also finds the unfinished jobs at start.
    Index("ix_training_jobs_created_at_key", "created_at", "key"),
    Index("ix_training_jobs_name_key", "name", "key"),
    Index("ix_training_jobs_status_key", "status", "key"),
)

#: Functions registered by ``POST /functions``: Python callables called Lambda-style. Names
#: are case-sensitive, as Lambda's are.
functions = Table(
    "functions",
    metadata,
    Column("name", Text, primary_key=True),
    # ``package.module:attr``, imported in a worker process.
    Column("handler", Text, nullable=False),
    Column("timeout_s", Float, nullable=False),
    # Environment variables (JSON object of strings), applied around each call.
    Column("environment", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- workflows (Step Functions) -------------------------------------------------------------
# Names are case-sensitive, as Step Functions' are, and ARNs are made from them with the
# region and account settings (never stored). Documents are JSON text, as elsewhere.

#: State machines (CreateStateMachine); what they run is their current revision.
state_machines = Table(
    "state_machines",
    metadata,
    Column("name", Text, primary_key=True),
    Column("type", Text, nullable=False),
    # ACTIVE, or DELETING while executions still run (the row goes with the last one).
    Column("status", Text, nullable=False),
    Column("revision_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("logging_configuration", Text, nullable=True),
    Column("tracing_configuration", Text, nullable=True),
    Column("encryption_configuration", Text, nullable=True),
)

#: Each definition and role a state machine had: an execution runs the revision it
#: started with, whatever UpdateStateMachine does meanwhile (and so does its redrive).
state_machine_revisions = Table(
    "state_machine_revisions",
    metadata,
    Column("revision_id", Text, primary_key=True),
    Column("state_machine", Text, nullable=False),
    Column("definition", Text, nullable=False),
    Column("role_arn", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_state_machine_revisions_state_machine", "state_machine"),
)

#: Executions of standard state machines (express ones are never stored). ``key`` is
#: ``<state machine>:<name>``, the tail of the execution's ARN.
executions = Table(
    "executions",
    metadata,
    Column("key", Text, primary_key=True),
    Column("state_machine", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("revision_id", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("input", Text, nullable=False),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("cause", Text, nullable=True),
    Column("trace_header", Text, nullable=True),
    Column("start_date", DateTime(timezone=True), nullable=False),
    Column("stop_date", DateTime(timezone=True), nullable=True),
    Column("redrive_count", Integer, nullable=False),
    Column("redrive_date", DateTime(timezone=True), nullable=True),
    # Which runner runs it, until when (epoch seconds): a runner that dies stops renewing,
    # and another claims the execution once the lease has expired.
    Column("lease_owner", Text, nullable=True),
    Column("lease_expires", Float, nullable=True),
    # A Distributed Map's child executions (not yet run): their Map Run and parent.
    Column("map_run", Text, nullable=True),
    Column("parent_key", Text, nullable=True),
    # ListExecutions: a state machine's executions, newest first.
    Index("ix_executions_state_machine_start_date", "state_machine", "start_date"),
    # Runners claim RUNNING executions whose lease is free or expired.
    Index("ix_executions_status_lease_expires", "status", "lease_expires"),
)

#: The history of each execution (GetExecutionHistory), one row per event. ``key`` names
#: the event as the interpreter does on every run, so a resumed execution finds what it
#: recorded before its crash instead of writing it again; ``redrive`` is the attempt that
#: wrote it, and ``replayable`` whether a later run may answer from it (a redrive drops
#: the events of what failed; events the service writes itself never are).
execution_events = Table(
    "execution_events",
    metadata,
    Column("execution_key", Text, nullable=False),
    Column("id", Integer, nullable=False),
    Column("redrive", Integer, nullable=False),
    Column("key", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("previous_id", Integer, nullable=False),
    # The ``…EventDetails`` member's name and its value (JSON), if the event has one.
    Column("details_name", Text, nullable=True),
    Column("details", Text, nullable=True),
    Column("replayable", Boolean, nullable=False),
    PrimaryKeyConstraint("execution_key", "id"),
    UniqueConstraint("execution_key", "redrive", "key"),
)

#: Jobs of the jobs API (``POST /create-job``): what a job asked for, and the execution of
#: ``multi_model_inference`` that runs it (inserted in the transaction that starts it).
jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("owner", Text, nullable=True),
    # JSON text: the categories as asked, in order.
    Column("categories", Text, nullable=False),
    Column("content_type", Text, nullable=False),
    Column("input_key", Text, nullable=False),
    Column("execution_arn", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # GET /jobs: newest first, per owner or all.
    Index("ix_jobs_created_at_id", "created_at", "id"),
    Index("ix_jobs_owner_created_at", "owner", "created_at"),
)

# -- identity (Cognito user pools, access keys) ---------------------------------------------
# Pool ids, client ids, usernames and group names are case-sensitive, as Cognito's are.
# Everything of a pool hangs off it by foreign keys that cascade, so deleting a pool (or a
# user, or a group) is one statement whatever hangs off it; SQLite enforces them because
# Database turns ``PRAGMA foreign_keys`` on. Documents are JSON text, as elsewhere.

#: User pools (CreateUserPool).
user_pools = Table(
    "user_pools",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    # The PasswordPolicy document, as given.
    Column("password_policy", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    # Pool names need not be unique; looking one up by name takes the first by id.
    Index("ix_user_pools_name_id", "name", "id"),
)

#: App clients of user pools (CreateUserPoolClient).
user_pool_clients = Table(
    "user_pool_clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("pool_id", Text, ForeignKey("user_pools.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("secret", Text, nullable=True),
    # JSON text: the ExplicitAuthFlows, in order.
    Column("explicit_auth_flows", Text, nullable=False),
    Column("access_token_validity_s", Integer, nullable=False),
    Column("id_token_validity_s", Integer, nullable=False),
    Column("refresh_token_validity_s", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    # ListUserPoolClients pages by client id; the pool's delete cascades through it too.
    Index("ix_user_pool_clients_pool_id_client_id", "pool_id", "client_id"),
)

#: Users of user pools (AdminCreateUser, SignUp). ``sub`` is the user's immutable id,
#: unique across pools; ``attributes`` (JSON) are the others, ``sub`` excluded.
identity_users = Table(
    "identity_users",
    metadata,
    Column("pool_id", Text, ForeignKey("user_pools.id", ondelete="CASCADE"), nullable=False),
    Column("username", Text, nullable=False),
    Column("sub", Text, nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("status", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("attributes", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    # Epoch seconds of the last global sign-out: tokens issued before it are refused.
    Column("signed_out_at", Float, nullable=True),
    PrimaryKeyConstraint("pool_id", "username"),
    Index("ix_identity_users_sub", "sub", unique=True),
)

#: Groups of user pools (CreateGroup).
identity_groups = Table(
    "identity_groups",
    metadata,
    Column("pool_id", Text, ForeignKey("user_pools.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("precedence", Integer, nullable=True),
    Column("role_arn", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_modified_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("pool_id", "name"),
)

#: Which users are in which groups (AdminAddUserToGroup); gone with either.
identity_memberships = Table(
    "identity_memberships",
    metadata,
    Column("pool_id", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column("group_name", Text, nullable=False),
    PrimaryKeyConstraint("pool_id", "username", "group_name"),
    ForeignKeyConstraint(
        ["pool_id", "username"],
        ["identity_users.pool_id", "identity_users.username"],
        ondelete="CASCADE",
    ),
    ForeignKeyConstraint(
        ["pool_id", "group_name"],
        ["identity_groups.pool_id", "identity_groups.name"],
        ondelete="CASCADE",
    ),
    # ListUsersInGroup, and the group's delete cascading (the key serves the user's).
    Index("ix_identity_memberships_pool_id_group_name", "pool_id", "group_name", "username"),
)

#: Refresh tokens issued, by the SHA-256 of the opaque token (never the token itself), so
#: they can be revoked one by one (RevokeToken) or all of a user's (GlobalSignOut). A
#: token's ``origin_jti`` is the claim of the ID and access tokens issued with it and from
#: it, so revoking it revokes them too; ``NULL`` for tokens issued before revision 0008
#: until they are next used.
identity_refresh_tokens = Table(
    "identity_refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("pool_id", Text, nullable=False),
    Column("username", Text, nullable=False),
    Column(
        "client_id",
        Text,
        ForeignKey("user_pool_clients.client_id", ondelete="CASCADE"),
        nullable=False,
    ),
    # Epoch seconds.
    Column("issued_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("revoked", Boolean, nullable=False),
    Column("origin_jti", Text, nullable=True),
    ForeignKeyConstraint(
        ["pool_id", "username"],
        ["identity_users.pool_id", "identity_users.username"],
        ondelete="CASCADE",
    ),
    Index("ix_identity_refresh_tokens_pool_id_username", "pool_id", "username"),
    Index("ix_identity_refresh_tokens_client_id", "client_id"),
    # Every token verified asks whether its origin was revoked.
    Index("ix_identity_refresh_tokens_origin_jti", "origin_jti"),
)

#: Access keys of users, for SigV4-signed calls. The secret is kept as given: verifying a
#: signature needs it.
access_keys = Table(
    "access_keys",
    metadata,
    Column("access_key_id", Text, primary_key=True),
    Column("secret", Text, nullable=False),
    Column("pool_id", Text, nullable=False),
    Column("username", Text, nullable=False),
    # Active or Inactive.
    Column("status", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    ForeignKeyConstraint(
        ["pool_id", "username"],
        ["identity_users.pool_id", "identity_users.username"],
        ondelete="CASCADE",
    ),
    Index("ix_access_keys_pool_id_username", "pool_id", "username"),
)

#: The private keys that sign tokens, by key id (the JWT header's ``kid``).
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# -- gateway (API Gateway REST APIs) ---------------------------------------------------------
# Ids are case-sensitive, as API Gateway's are. A REST API's definition (resources, methods,
# integrations, authorizers, models...) is one JSON document, the camelCase ``RestApi`` of
# ``modelyard.gateway.definitions``, read and written whole: it is never queried by its
# parts, and a deployment freezes it as it is. Everything of an API hangs off it by foreign
# keys that cascade, as in the identity area.

#: REST APIs (CreateRestApi, ImportRestApi). ``version`` grows by one on every write, so
#: that a read-modify-write (PutMethod, PatchResource...) replaces only what it read.
rest_apis = Table(
    "rest_apis",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
    Column("document", Text, nullable=False),
)

#: Deployments of REST APIs (CreateDeployment): the API's document as it was then, which is
#: what a stage serves whatever the API has become since.
api_deployments = Table(
    "api_deployments",
    metadata,
    Column("api_id", Text, ForeignKey("rest_apis.id", ondelete="CASCADE"), nullable=False),
    Column("id", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),
    PrimaryKeyConstraint("api_id", "id"),
)

#: Stages of REST APIs (CreateStage): a name clients call, the deployment it serves, and
#: its settings document (variables, methodSettings, canarySettings, cache, description,
#: tags). The deployment cannot be deleted while a stage serves it (no cascade there);
#: deleting the API deletes both in one statement.
api_stages = Table(
    "api_stages",
    metadata,
    Column("api_id", Text, ForeignKey("rest_apis.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("deployment_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_updated_at", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),
    PrimaryKeyConstraint("api_id", "name"),
    ForeignKeyConstraint(
        ["api_id", "deployment_id"], ["api_deployments.api_id", "api_deployments.id"]
    ),
    # "Is this deployment in use", asked by DeleteDeployment and the foreign key.
    Index("ix_api_stages_api_id_deployment_id", "api_id", "deployment_id"),
)

#: API keys (CreateApiKey), by the SHA-256 (hex) of the key's value: the value is shown
#: once, when the key is created, and never stored.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("value_hash", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=True),
    Column("enabled", Boolean, nullable=False),
    Column("customer_id", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_updated_at", DateTime(timezone=True), nullable=False),
    # A request's key is looked up by its hash.
    UniqueConstraint("value_hash"),
)

#: Usage plans (CreateUsagePlan): the document holds apiStages, throttle, quota,
#: description and tags, as the API answers them.
usage_plans = Table(
    "usage_plans",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),
)

#: Which API keys are in which usage plans (CreateUsagePlanKey); gone with either.
usage_plan_keys = Table(
    "usage_plan_keys",
    metadata,
    Column("plan_id", Text, ForeignKey("usage_plans.id", ondelete="CASCADE"), nullable=False),
    Column("key_id", Text, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("plan_id", "key_id"),
    # The plans of a key (a request's quota), and the key's delete cascading.
    Index("ix_usage_plan_keys_key_id", "key_id"),
)
