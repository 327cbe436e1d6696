"""The program of a training job whose algorithm is a Python function.

``python -m modelyard.training.run_function package.module:function [ARG...]`` imports the
function and calls it with the job's :class:`~modelyard.training.context.TrainingContext`
(the ARGs are its ``arguments``: what a built-in algorithm's name says, e.g. the estimator
of ``sklearn:sklearn.linear_model.Ridge``).
An exception it raises fails the job: its type and message go to ``output/failure`` (the
job's FailureReason, as SageMaker reads that file) and its traceback to the log.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path

from modelyard.training.context import TrainingContext

__all__ = ["main"]


def main(argv: list[str]) -> int:
    """Run the function named by ``argv[0]`` with the rest as its arguments; the
    process's exit status."""
    failure = Path(os.environ["SM_OUTPUT_DIR"]) / "failure"
    try:
        if not argv or ":" not in argv[0]:
            raise ValueError(f"expected one package.module:function, not {argv!r}")
        module_name, _, attribute = argv[0].partition(":")
        function = getattr(importlib.import_module(module_name), attribute)
        function(TrainingContext.from_environment(os.environ, arguments=argv[1:]))
    except BaseException as exc:  # whatever it is, the job says so
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        traceback.print_exc()
        failure.write_text(f"{type(exc).__name__}: {exc}"[:1024])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
