"""Fixtures shared by every test package: real servers on 127.0.0.1 for storage backends.

- ``s3_server`` (session): an S3-compatible server (moto) in a thread; ``new_bucket()``
  gives each test its own bucket, ``options`` are the fsspec storage options to reach it.
- ``postgres_server`` (session): the PostgreSQL at 127.0.0.1:5432 (database ``test``),
  skipping the test when it is not reachable.
- ``postgres_url`` (function): a fresh, empty PostgreSQL database for one test, dropped
  after it; mark such tests ``@pytest.mark.postgres``.
"""

from __future__ import annotations

import getpass
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]  # no type information shipped
import psycopg
import pytest
from moto.server import ThreadedMotoServer

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_DATABASE = "test"


@dataclass(frozen=True, kw_only=True)
class S3Server:
    """An S3-compatible server running in this process."""

    #: Where it listens, e.g. ``http://127.0.0.1:49152``.
    endpoint_url: str
    #: Storage options for ``open_store("s3://bucket/prefix", options)``.
    options: dict[str, Any] = field(default_factory=dict)

    def new_bucket(self) -> str:
        """Create an empty bucket with a unique name and return the name."""
        name = f"test-{uuid.uuid4().hex}"
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.options["key"],
            aws_secret_access_key=self.options["secret"],
            region_name="us-east-1",
        )
        client.create_bucket(Bucket=name)
        client.close()
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    # moto accepts any credentials; they are given so that none is looked up elsewhere.
    options = {"endpoint_url": endpoint_url, "key": "testing", "secret": "testing"}
    yield S3Server(endpoint_url=endpoint_url, options=options)
    server.stop()


@dataclass(frozen=True, kw_only=True)
class PostgresServer:
    """A reachable PostgreSQL server and the role to use on it."""

    host: str
    port: int
    user: str

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def execute(self, sql: str) -> None:
        """Run ``sql`` outside a transaction (CREATE/DROP DATABASE need that)."""
        conninfo = f"host={self.host} port={self.port} dbname={POSTGRES_DATABASE} user={self.user}"
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
            connection.execute(sql)


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    reasons = []
    for user in dict.fromkeys(["postgres", getpass.getuser()]):
        server = PostgresServer(host=POSTGRES_HOST, port=POSTGRES_PORT, user=user)
        try:
            server.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            reasons.append(f"as {user!r}: {str(exc).strip()}")
            continue
        return server
    pytest.skip(
        f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT}/{POSTGRES_DATABASE} is not reachable "
        + "; ".join(reasons)
    )


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    # A database per test, so tests (and parallel runs) never see each other's rows.
    name = f"modelyard_test_{uuid.uuid4().hex}"
    postgres_server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
