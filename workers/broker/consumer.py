"""The worker's consumer: Celery's, with every message that cannot become a task set
aside in the dead letters (``workers/broker/guard.py``) instead of ending the worker.

Celery turns a message into a request in ``on_task_received`` (built by
``create_task_handler``). Some malformed messages reach handlers that log and drop them
(unknown task, undecodable body, invalid headers); others raise out of it into the
worker's event loop, which ends the worker, and a message already in the unacked set
comes back at restart and ends it again. Here each message is checked first against
the message schema (``message_check.problem``; on Redis the transport has already
checked the raw envelope, and this is skipped), the drop handlers keep what they drop,
and anything still raised while the request is built is caught at that one place.

Selected by Celery's ``worker_consumer`` setting (``workers/celeryconfig.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.consumer import promise

from workers.broker import guard, message_check
from workers.settings import get_settings

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard.bind(self.hostname)
        self._max_message_bytes = get_settings().message_size_limit

    def _set_aside(self, message: Any, kind: str, reason: str) -> None:
        guard.set_aside_message(message, kind, reason, self.connection_errors)

    def create_task_handler(self, promise: Any = promise) -> Any:
        # the transport holds messages of these queues to the whole task schema (a queue
        # added later by remote control gets the checks of ``problem`` below only)
        queues = self.app.amqp.queues
        message_check.register_task_queues(queues.consume_from or queues)
        handle = super().create_task_handler(promise)

        def on_task_received(message: Any) -> Any:
            found = message_check.problem(message, self._max_message_bytes)
            if found is not None:
                return self._set_aside(message, *found)
            try:
                return handle(message)
            except Exception as exc:  # what the checks did not foresee: one message lost
                if message.acknowledged:
                    logger.exception("error after a message was acknowledged")
                    return None
                return self._set_aside(
                    message, message_check.OTHER, guard.reason_of(exc, "request")
                )

        return on_task_received

    # Celery's handlers for messages it cannot run log and drop them: keep them instead.
    def on_unknown_message(self, body: Any, message: Any) -> None:
        self._set_aside(message, message_check.HEADERS, "not a Celery task message")

    def on_unknown_task(self, body: Any, message: Any, exc: Any) -> None:
        name = message.headers.get("task") if isinstance(message.headers, dict) else None
        self._set_aside(
            message, message_check.UNKNOWN_TASK, f"unknown task {name!r}: not registered here"
        )

    def on_invalid_task(self, body: Any, message: Any, exc: Any) -> None:
        self._set_aside(message, message_check.HEADERS, f"invalid task: {exc}")

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        self._set_aside(message, message_check.ENCODING, guard.reason_of(exc, "body"))
