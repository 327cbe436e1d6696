"""What watches every invocation of an endpoint: data capture and the endpoint metrics.

The runtime hands each :class:`~modelyard.endpoints.runtime.InvocationRecord` to its
observers once the invocation is answered or has failed; both observers here are cheap
and never raise into the request (the runtime logs what they raise).
"""

from __future__ import annotations

from modelyard.endpoints.capture import CaptureWriter
from modelyard.endpoints.invocations import ERRORS
from modelyard.endpoints.runtime import InvocationRecord
from modelyard.metrics import Metrics

__all__ = ["CaptureObserver", "MetricsObserver", "model_label"]


def model_label(record: InvocationRecord) -> str:
    """The model an invocation called, as metrics name it: the SageMaker model (and target)."""
    if record.model is None:
        return ""
    return record.model.key.removeprefix("sagemaker/")


class CaptureObserver:
    """Hands the answered invocations of capturing endpoints to the capture writer."""

    def __init__(self, writer: CaptureWriter) -> None:
        self._writer = writer

    def observe(self, record: InvocationRecord) -> None:
        """Capture ``record`` if its endpoint's config says so (sampling is the writer's)."""
        answer = record.answer
        if record.capture is None or answer is None or record.variant_name is None:
            return  # SageMaker captures what a model answered, not failures
        self._writer.record(
            record.capture,
            endpoint=record.request.endpoint_name,
            variant=record.variant_name,
            request_body=record.request.body,
            request_content_type=record.request.content_type,
            response_body=answer.body,
            response_content_type=answer.content_type,
            inference_id=record.request.inference_id,
            inference_time=record.started_at,
        )


class MetricsObserver:
    """Counts invocations and their latencies per endpoint, variant and model."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def observe(self, record: InvocationRecord) -> None:
        """Record ``record``'s status and its ModelLatency/OverheadLatency split."""
        answer = record.answer
        status = 200 if record.error is None else ERRORS.code_for(record.error).status
        self._metrics.invoked(
            record.request.endpoint_name,
            record.variant_name or "",
            model_label(record),
            status,
            answer.model_seconds if answer is not None else None,
            record.seconds,
        )
