"""Model handlers: what a worker process loads from a model folder to answer predictions.

``load_handler(name, model_dir)`` reads the folder's ``model-settings.json`` (if any),
recognises the handler kind (see ``detection``) and returns a loaded ``Handler``:

- ``mms``: Multi Model Server custom handlers (``handle(data, context)``), unchanged;
- ``inference_toolkit``: SageMaker inference toolkit scripts (``code/inference.py``);
- ``native``: a ``modelyard.serving.model.Model`` subclass in ``model.py``;
- ``sklearn``: a bare pickled scikit-learn estimator (``model.joblib`` / ``model.pkl``).

Everything here runs inside the worker process. User modules are imported under names
unique to the model, with the model folder on ``sys.path`` only while loading (see
``imports``).
"""

from __future__ import annotations

from pathlib import Path

from modelyard.serving.handlers.base import Handler
from modelyard.serving.handlers.detection import Detection, detect_handler
from modelyard.serving.handlers.inference_toolkit import InferenceToolkitHandler
from modelyard.serving.handlers.mms import MMSHandler
from modelyard.serving.handlers.native import NativeHandler
from modelyard.serving.handlers.sklearn import SKLearnHandler
from modelyard.serving.model_settings import read_model_settings

__all__ = [
    "Detection",
    "Handler",
    "InferenceToolkitHandler",
    "MMSHandler",
    "NativeHandler",
    "SKLearnHandler",
    "detect_handler",
    "load_handler",
]

_HANDLERS: dict[
    str, type[MMSHandler | InferenceToolkitHandler | NativeHandler | SKLearnHandler]
] = {
    "mms": MMSHandler,
    "inference_toolkit": InferenceToolkitHandler,
    "native": NativeHandler,
    "sklearn": SKLearnHandler,
}


def load_handler(name: str, model_dir: Path) -> Handler:
    """Load the model in ``model_dir``, served as ``name``; call it in the worker process.

    Raises ``ModelLoadFailed`` naming the model and the cause (a bad settings file, no
    recognisable handler, or the exception the model's own code raised while loading).
    """
    settings = read_model_settings(name, model_dir)
    detection = detect_handler(name, model_dir, settings)
    return _HANDLERS[detection.kind](name, model_dir, settings, detection.entrypoint)
