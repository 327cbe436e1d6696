"""The ``context`` object MMS custom handlers receive, with Multi Model Server's API.

Mirrors ``mms.context.Context`` (awslabs/multi-model-server) so that ``model_handler.py``
files written for SageMaker multi-model endpoints run unchanged: ``system_properties``,
``manifest``, ``model_name``, ``request_ids``, ``request_processor``, the request-header
and response-header accessors, per-request status, and ``metrics``. The accessors
TorchServe added to the same class (``get_request_header``, ``get_all_request_header``,
``set_response_header``) are there too, since handlers ported back from it use them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SERVER_VERSION", "Context", "Metrics", "RequestProcessor"]

#: Reported as ``system_properties["server_version"]``: the MMS release we mimic.
SERVER_VERSION = "1.1.11"


class RequestProcessor:
    """Headers in and out of one request of a batch (``mms.context.RequestProcessor``)."""

    def __init__(self, request_header: dict[str, Any]) -> None:
        self._status_code = 200
        self._reason_phrase: str | None = None
        self._response_header: dict[str, str] = {}
        self._request_header = request_header

    def get_request_property(self, key: str) -> Any:
        """A request header; exact name first, then ignoring case (HTTP headers are)."""
        if key in self._request_header:
            return self._request_header[key]
        lowered = key.lower()
        for name, value in self._request_header.items():
            if name.lower() == lowered:
                return value
        return None

    def get_request_properties(self) -> dict[str, Any]:
        """All request headers (the SageMaker inference toolkit reads them this way)."""
        return self._request_header

    def report_status(self, code: int, reason_phrase: str | None = None) -> None:
        """Set this request's response status."""
        self._status_code = code
        self._reason_phrase = reason_phrase

    def get_response_status_code(self) -> int:
        """This request's response status code (200 unless set)."""
        return self._status_code

    def get_response_status_phrase(self) -> str | None:
        """This request's response reason phrase, if set."""
        return self._reason_phrase

    def add_response_property(self, key: str, value: str) -> None:
        """Set a response header."""
        self._response_header[key] = value

    def get_response_header(self) -> dict[str, str]:
        """The response headers set so far."""
        return self._response_header


class Metrics:
    """Accepts the metric calls MMS handlers make and keeps them for inspection.

    MMS publishes these to its metrics log; modelyard exports its own per-model metrics,
    so these are only recorded, never published.
    """

    def __init__(self, request_ids: dict[int, str], model_name: str) -> None:
        self.request_ids = request_ids
        self.model_name = model_name
        #: ``(kind, name, value, unit)`` for every call, in order.
        self.recorded: list[tuple[str, str, Any, str | None]] = []

    def _record(self, kind: str, name: str, value: Any, unit: str | None) -> None:
        self.recorded.append((kind, name, value, unit))

    def add_counter(
        self, name: str, value: Any, idx: int | None = None, dimensions: Any = None
    ) -> None:
        """Record a counter increment."""
        self._record("counter", name, value, "count")

    def add_time(
        self,
        name: str,
        value: Any,
        idx: int | None = None,
        unit: str = "ms",
        dimensions: Any = None,
    ) -> None:
        """Record a duration."""
        self._record("time", name, value, unit)

    def add_size(
        self,
        name: str,
        value: Any,
        idx: int | None = None,
        unit: str = "MB",
        dimensions: Any = None,
    ) -> None:
        """Record a size."""
        self._record("size", name, value, unit)

    def add_percent(
        self, name: str, value: Any, idx: int | None = None, dimensions: Any = None
    ) -> None:
        """Record a percentage."""
        self._record("percent", name, value, "percent")

    def add_error(self, name: str, value: Any, dimensions: Any = None) -> None:
        """Record an error."""
        self._record("error", name, value, None)

    def add_metric(
        self,
        name: str,
        value: Any,
        idx: int | None = None,
        unit: str | None = None,
        dimensions: Any = None,
    ) -> None:
        """Record any metric."""
        self._record("metric", name, value, unit)


class Context:
    """Model and per-batch request information handed to ``initialize`` and ``handle``.

    One context lives as long as the model; ``request_ids``, ``request_processor`` and
    ``metrics`` are replaced before each ``handle`` call, as MMS does.
    """

    def __init__(
        self,
        model_name: str,
        model_dir: str,
        manifest: dict[str, Any],
        batch_size: int = 1,
        gpu: int | None = None,
        mms_version: str = SERVER_VERSION,
    ) -> None:
        self.model_name = model_name
        self.manifest = manifest
        self._system_properties: dict[str, Any] = {
            "model_dir": model_dir,
            "gpu_id": gpu,
            "batch_size": batch_size,
            "server_name": "MMS",
            "server_version": mms_version,
            "limit_max_image_pixels": True,
        }
        #: Request ids of the current batch, by position.
        self.request_ids: dict[int, str] | None = None
        self._request_processor: list[RequestProcessor] | None = None
        self._metrics: Metrics | None = Metrics({}, model_name)

    @property
    def system_properties(self) -> dict[str, Any]:
        """``model_dir``, ``gpu_id`` (None), ``batch_size``, ``server_name``, ``server_version``."""
        return self._system_properties

    @property
    def request_processor(self) -> list[RequestProcessor] | None:
        """One ``RequestProcessor`` per request of the current batch."""
        return self._request_processor

    @request_processor.setter
    def request_processor(self, request_processor: list[RequestProcessor] | None) -> None:
        self._request_processor = request_processor

    @property
    def metrics(self) -> Metrics | None:
        """The metrics recorder of the current batch."""
        return self._metrics

    @metrics.setter
    def metrics(self, metrics: Metrics | None) -> None:
        self._metrics = metrics

    def get_request_id(self, idx: int = 0) -> str | None:
        """The id of request ``idx`` of the batch."""
        return None if self.request_ids is None else self.request_ids.get(idx)

    def get_request_header(self, idx: int, key: str) -> Any:
        """Header ``key`` of request ``idx`` (``Content-Type``, ``Accept``, ...)."""
        return self._processor(idx).get_request_property(key)

    def get_all_request_header(self, idx: int) -> dict[str, Any]:
        """All headers of request ``idx``."""
        return self._processor(idx).get_request_properties()

    def set_response_content_type(self, idx: int, value: str) -> None:
        """Set the content type of the answer to request ``idx``."""
        self._processor(idx).add_response_property("content-type", value)

    def get_response_content_type(self, idx: int) -> str | None:
        """The content type set for the answer to request ``idx``, if any."""
        if self._request_processor is None:
            return None
        return self._request_processor[idx].get_response_header().get("content-type")

    def set_response_header(self, idx: int, key: str, value: str) -> None:
        """Set a header of the answer to request ``idx``."""
        self._processor(idx).add_response_property(key, value)

    def get_response_headers(self, idx: int) -> dict[str, str]:
        """The headers set for the answer to request ``idx``."""
        return self._processor(idx).get_response_header()

    def set_response_status(self, code: int = 200, phrase: str = "", idx: int = 0) -> None:
        """Set the status of the answer to request ``idx`` (>= 400 fails that request)."""
        if self._request_processor is not None:
            self._request_processor[idx].report_status(code, reason_phrase=phrase)

    # MMS 1.0 spells it this way; handlers use both.
    set_http_response_status = set_response_status

    def get_response_status(self, idx: int) -> tuple[int, str | None]:
        """``(code, phrase)`` of the answer to request ``idx``."""
        processor = self._processor(idx)
        return processor.get_response_status_code(), processor.get_response_status_phrase()

    get_http_response_status = get_response_status

    def _processor(self, idx: int) -> RequestProcessor:
        if self._request_processor is None:
            raise RuntimeError(
                "no request is being handled: request headers exist only in handle()"
            )
        return self._request_processor[idx]

    def begin_batch(self, headers: list[dict[str, Any]], request_ids: list[str]) -> None:
        """Set up the per-request state before a ``handle`` call (modelyard's, not MMS's)."""
        self.request_ids = dict(enumerate(request_ids))
        self._request_processor = [RequestProcessor(header) for header in headers]
        self._metrics = Metrics(self.request_ids, self.model_name)
