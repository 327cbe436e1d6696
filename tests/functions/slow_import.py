"""A module whose import never ends in time: registering a handler from it answers 400."""

from __future__ import annotations

import time

time.sleep(60)


def handler(event: object, context: object) -> object:
    return event
