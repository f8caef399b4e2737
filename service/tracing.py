"""Optional OpenTelemetry tracing (`EBMM_TRACING=true`): a span per HTTP request (FastAPI instrumentation) with
child spans for the engine queue wait, the engine call and each Redis call, exported over OTLP/HTTP.

The exporter is configured by the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` (default "ebmm"),
`OTEL_RESOURCE_ATTRIBUTES`, ...). Off, no tracer exists and the hot path pays one `is None` test per span.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

UNTRACED_ROUTES = "healthz,readyz,metrics"


def instrument(app: FastAPI) -> TracerProvider:
    """Trace `app`'s requests with a provider of its own exporting over OTLP; shut it down to flush."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "ebmm"}))  # OTEL_SERVICE_NAME wins
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=UNTRACED_ROUTES)
    return provider


def record_span(tracer: Tracer, name: str, start: float, end: float, attributes: dict[str, Any]) -> None:
    """A finished child span of the current one, between two `time.monotonic()` readings."""
    now_ns, now = time.time_ns(), time.monotonic()
    span = tracer.start_span(name, start_time=now_ns - int((now - start) * 1e9), attributes=attributes)
    span.end(end_time=now_ns - int((now - end) * 1e9))
