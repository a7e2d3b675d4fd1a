"""The process's tracer provider, when tracing is on (``setup`` installs it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (no cost when off)
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Tracer

provider: TracerProvider | None = None


def enabled() -> bool:
    return provider is not None


def tracer() -> Tracer:
    assert provider is not None, "tracing is off"
    return provider.get_tracer("agentq")


def flush(timeout_ms: int = 5000) -> None:
    """Export what is buffered (a pool process leaves through os._exit: no atexit)."""
    if provider is not None:
        provider.force_flush(timeout_ms)
