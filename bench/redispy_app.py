"""The product's Celery app with the hooks' XADDs written by redis-py's connection.

``celery -A bench.redispy_app worker`` and the benchmark's producer use it for the
variant (r) of ``bench_recording``: recording as in (b), except that the event sink
opens ``bench/redispy_writer.py``'s :class:`ConnectionWriter` (redis-py's
``Connection``, same pipelining) instead of ``workers/recording/resp.py``'s
``RespWriter``. Set at import, so the worker's pool processes (forked after it) and
the producer get it; the recorder process does not write with it.
"""

from __future__ import annotations

from bench.redispy_writer import ConnectionWriter
from workers.app import app
from workers.recording import sink

sink.open_writer = ConnectionWriter

__all__ = ["app"]
