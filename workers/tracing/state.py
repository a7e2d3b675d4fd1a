"""The process's tracer provider, when tracing is on (``setup`` installs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (no cost when off)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

provider: TracerProvider | None = None
_tracer: tuple[TracerProvider, Tracer] | None = None  # get_tracer builds a new one per call


def enabled() -> bool:
    return provider is not None


def tracer() -> Tracer:
    global _tracer
    assert provider is not None, "tracing is off"
    if _tracer is None or _tracer[0] is not provider:
        _tracer = (provider, provider.get_tracer("agentq"))
    return _tracer[1]


def flush(timeout_ms: int = 5000) -> None:
    """Export what is buffered (a pool process leaves through os._exit: no atexit)."""
    if provider is not None:
        provider.force_flush(timeout_ms)
