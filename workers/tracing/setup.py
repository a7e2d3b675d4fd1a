"""Tracing on or off, from the standard OpenTelemetry variables.

On when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP
endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
and ``OTEL_SDK_DISABLED`` is not true. The OpenTelemetry default would be "otlp to
localhost": we keep it off instead, so an unconfigured fleet pays nothing. The exporter
and the batch processor read their own variables (``OTEL_EXPORTER_OTLP_*``,
``OTEL_BSP_*``); the service name is ``OTEL_SERVICE_NAME`` (default ``agentq``).

Nothing here connects anywhere: the exporter sends from its own thread, later. The
batch processor restarts its thread in forked pool processes (``os.register_at_fork``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from workers.tracing import state

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (no cost when off)
    from opentelemetry.sdk.trace import TracerProvider
_EXPORTERS = ("otlp", "console")


def configured(env: Any = os.environ) -> bool:
    """Whether the environment asks for traces (see the module docstring)."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters:
        return exporters != ["none"]
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def _exporter_names(env: Any) -> list[str]:
    raw = env.get("OTEL_TRACES_EXPORTER", "")
    return [n.strip().lower() for n in raw.split(",") if n.strip()]


def provider_from_env(env: Any = os.environ) -> TracerProvider:
    """A provider exporting where the environment says; ValueError names a bad exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    names = _exporter_names(env) or ["otlp"]
    unknown = [n for n in names if n not in (*_EXPORTERS, "none")]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER: unknown exporter {unknown[0]!r} "
            f"(this fleet has: {', '.join(_EXPORTERS)}, none)"
        )
    service = env.get("OTEL_SERVICE_NAME") or "agentq"
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    for name in names:
        if name == "otlp":
            # imported only when used: the protobuf machinery costs ~100 ms to import
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        elif name == "console":
            provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    return provider


def install(provider: TracerProvider) -> None:
    """Use ``provider`` for the fleet's spans and connect the hooks (tests pass one with
    an in-memory exporter)."""
    from workers.tracing import hooks

    state.provider = provider
    hooks.connect()


def install_from_env() -> bool:
    """Turn tracing on when the environment asks for it; True when it is on. The provider
    also becomes OpenTelemetry's global one, so spans an agent makes itself (an
    instrumented HTTP client, say) nest inside the task's run span."""
    if state.provider is None and configured():
        from opentelemetry import trace

        provider = provider_from_env()
        install(provider)
        trace.set_tracer_provider(provider)
    return state.provider is not None


def uninstall() -> None:
    """Tracing off again (tests): hooks disconnected, the provider shut down."""
    from workers.tracing import hooks

    hooks.disconnect()
    if state.provider is not None:
        state.provider.shutdown()
    state.provider = None


def after_commit(entries: list[Any], started_ns: int) -> None:
    """The recorder committed ``entries``: their spans (workers/tracing/commits.py)."""
    if state.provider is not None:
        from workers.tracing.commits import record_commit

        record_commit(entries, started_ns)
