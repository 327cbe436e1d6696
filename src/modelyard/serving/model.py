"""The native model API: subclass ``Model`` in a ``model.py`` to serve your own code.

A model folder holding a ``model.py`` that defines one subclass of :class:`Model` is
served by the native handler::

    # model.py
    import numpy as np
    from modelyard.serving.model import Model

    class Doubler(Model):
        def load(self) -> None:
            self.factor = float(self.settings.parameters.get("factor", 2))

        def predict(self, inputs, parameters):
            return np.asarray(inputs, dtype=float) * self.factor

The handler decodes request bodies before ``predict`` and encodes what it returns, so a
model deals in Python and numpy values, never in bytes or HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelyard.serving.model_settings import ModelSettings

__all__ = ["Model"]


class Model:
    """A model served by modelyard; subclass it and override ``load`` and ``predict``.

    Every method runs in the worker process hosting the model, never in the HTTP
    process, and the worker calls them one at a time, in the order requests arrive.
    That worker may host other models too: keep state on the instance, not in globals.

    Exceptions raised by ``load`` fail the load (``ModelLoadFailed``); exceptions raised
    by ``predict`` or ``predict_batch`` fail the request (``InferenceFailed``, naming the
    exception class and message). Raise a ``modelyard.errors.InvalidRequest`` subclass
    to blame the caller's payload instead.
    """

    def __init__(self, name: str, model_dir: Path, settings: ModelSettings) -> None:
        """Record where the model lives; do the heavy work in ``load``, not here.

        Called once, in the worker process, just before ``load``.
        """
        #: Name the model is served under.
        self.name = name
        #: The unpacked artefact folder (the contents of ``model.tar.gz``).
        self.model_dir = model_dir
        #: The folder's ``model-settings.json`` (defaults when it has none).
        self.settings = settings

    def load(self) -> None:
        """Load weights and warm up; called once in the worker after construction.

        While it runs, the model folder is on ``sys.path``, so sibling modules can be
        imported. The worker measures the process's memory after it returns, so the
        model's size is known for eviction. Returning means the model is ready.
        """

    def predict(self, inputs: Any, parameters: dict[str, Any]) -> Any:
        """Answer one request; called in the worker for every request to this model.

        ``inputs`` is the decoded request: for ``/invocations`` what the codec of its
        content type produced (Python objects for JSON, a 2-D float array for CSV, ...);
        for V2 ``infer`` the array of the single input, or a dict name -> array when
        the request has several. ``parameters`` holds the V2 request parameters, or
        ``content_type`` and ``accept`` for ``/invocations``.

        Return anything the response codec can encode (numpy arrays, lists, dicts,
        numbers, strings). For V2, an array-like becomes one output (named after the
        first output in the settings, else ``output-0``) and a dict name -> array-like
        becomes one output per key.
        """
        raise NotImplementedError(f"{type(self).__name__} must override Model.predict")

    def predict_batch(self, batch: list[Any], parameters: dict[str, Any]) -> list[Any]:
        """Answer several requests at once; return one result per item, in order.

        Called when the worker groups requests (server-side batching). The default
        calls ``predict`` once per item; override it when the model is faster on a
        stacked batch.
        """
        return [self.predict(inputs, parameters) for inputs in batch]

    def unload(self) -> None:
        """Release resources (files, threads, GPU memory); called once before eviction.

        After it returns the worker drops every reference to the model. It is not
        called when the worker process dies or is killed.
        """
