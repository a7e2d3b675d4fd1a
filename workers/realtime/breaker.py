"""The circuit breaker in front of Pusher (pybreaker), with the counts the status shows.

After ``failures`` failed calls in a row the breaker opens: calls fail at once, without
reaching Pusher, for ``reset_s`` seconds; then one trial call goes through (half-open),
and its success closes the breaker again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pybreaker


class _Counts(pybreaker.CircuitBreakerListener):
    def __init__(self) -> None:
        self.opened = 0
        self.closed_again = False

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        if new_state.name == pybreaker.STATE_OPEN:
            self.opened += 1
        elif new_state.name == pybreaker.STATE_CLOSED and old_state is not None:
            self.closed_again = True


class PusherBreaker:
    def __init__(self, failures: int, reset_s: float) -> None:
        self._counts = _Counts()
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=failures,
            reset_timeout=reset_s,
            listeners=[self._counts],
            name="pusher",
            throw_new_error_on_trip=False,  # the call's own error says more
        )

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """``func(*args)`` through the breaker; raises ``pybreaker.CircuitBreakerError``
        while open, else ``func``'s own error."""
        return self._breaker.call(func, *args)

    @property
    def state(self) -> str:
        """closed, open or half-open."""
        return str(self._breaker.current_state)

    @property
    def opened(self) -> int:
        """How many times it opened."""
        return self._counts.opened

    def take_recovered(self) -> bool:
        """True once after each open → closed transition (then the bridge resyncs)."""
        recovered, self._counts.closed_again = self._counts.closed_again, False
        return recovered
