"""Storage of modelyard: the object store, the database, its schema and migrations."""

from __future__ import annotations

from modelyard.storage.database import Database
from modelyard.storage.objectstore import FsspecStore, ObjectStore, open_store
from modelyard.storage.registrations import ModelRegistration, ModelRegistrations

__all__ = [
    "Database",
    "FsspecStore",
    "ModelRegistration",
    "ModelRegistrations",
    "ObjectStore",
    "open_store",
]
