"""Request and event ids: distinct, well-formed version-4 UUIDs."""

from __future__ import annotations

import os
import uuid

from modelyard.ids import uuid4_string, uuid4_strings


def test_ids_are_distinct_version_4_uuids() -> None:
    ids = uuid4_strings(400) + [uuid4_string() for _ in range(300)]
    assert len(set(ids)) == 700
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    uuid4_string()  # the pool now holds ids the parent will hand out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        os.write(write, uuid4_string().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    parents = {uuid4_string() for _ in range(255)}
    assert child not in parents
