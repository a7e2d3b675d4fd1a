"""How many clients ``agentq serve`` serves at once, and for how long it waits on one.

The standard library's ``ThreadingHTTPServer`` starts a thread per connection, without
limit, and waits on a silent client forever: a few hundred clients that send half a
request would hold a few hundred threads. Here:

* every read and write on a connection times out after ``AGENTQ_SERVE_READ_TIMEOUT_SECONDS``:
  a stalled client's thread ends;
* the whole request (line, headers, body) must arrive within
  ``AGENTQ_SERVE_REQUEST_TIMEOUT_SECONDS`` (:class:`DeadlineReader`): a client trickling a
  byte now and then, never silent for long, is cut off too;
* at most ``AGENTQ_SERVE_MAX_CONNECTIONS`` connections are served at once. One more is
  answered 503 JSON at once by one of a few spare threads (which read its request head
  for at most :data:`BUSY_READ_S`, then answer whatever it asked); beyond those
  spares a connection is closed unanswered. Nothing waits in a queue of our own: the
  kernel's listen backlog is the queue.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SPARE_THREADS = 4  # answering 503 to connections beyond the limit
BUSY_READ_S = 1.0  # how long a spare thread waits for the request it refuses


class BoundedServer(ThreadingHTTPServer):
    """A threading HTTP server with at most ``max_connections`` handler threads; one
    beyond them is handed to ``busy_handler`` (which answers 503) while spares last."""

    daemon_threads = True  # a hung client never blocks shutdown
    busy_read_s = BUSY_READ_S

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        busy_handler: type[BaseHTTPRequestHandler],
        max_connections: int,
    ) -> None:
        self.busy_handler = busy_handler
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._spares = threading.BoundedSemaphore(SPARE_THREADS)
        self._count_lock = threading.Lock()
        self._active = {"serving": 0, "refusing": 0}
        super().__init__(address, handler)

    @property
    def serving(self) -> int:
        """Connections being served now (their threads alive)."""
        with self._count_lock:
            return self._active["serving"]

    @property
    def refusing(self) -> int:
        """Connections beyond the limit being answered 503 now."""
        with self._count_lock:
            return self._active["refusing"]

    def process_request(self, request: Any, client_address: Any) -> None:
        if self._slots.acquire(blocking=False):
            self._start("serving", self._slots, request, client_address)
        elif self._spares.acquire(blocking=False):
            self._start("refusing", self._spares, request, client_address)
        else:  # beyond even the spares: the cheapest answer is none
            self.shutdown_request(request)

    def _start(
        self, kind: str, slot: threading.BoundedSemaphore, request: Any, client_address: Any
    ) -> None:
        thread = threading.Thread(
            target=self._run, args=(kind, slot, request, client_address), daemon=True
        )
        with self._count_lock:
            self._active[kind] += 1
        try:
            thread.start()
        except RuntimeError:  # cannot start a thread (out of memory): drop the connection
            self._done(kind, slot)
            self.shutdown_request(request)

    def _run(
        self, kind: str, slot: threading.BoundedSemaphore, request: Any, client_address: Any
    ) -> None:
        try:
            if kind == "serving":
                self.finish_request(request, client_address)
            else:
                self.busy_handler(request, client_address, self)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._done(kind, slot)

    def _done(self, kind: str, slot: threading.BoundedSemaphore) -> None:
        with self._count_lock:
            self._active[kind] -= 1
        slot.release()


class DeadlineReader(io.RawIOBase):
    """The reading side of a connection: each read waits at most ``per_read_s``, and
    none starts after ``total_s`` from the first (``TimeoutError`` then, as a socket's)."""

    def __init__(self, sock: socket.socket, per_read_s: float, total_s: float) -> None:
        self._sock = sock
        self._per_read_s = per_read_s
        self._total_s = total_s
        self._deadline = time.monotonic() + total_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"request not received within {self._total_s:g} s")
        self._sock.settimeout(min(self._per_read_s, left))
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            if left <= self._per_read_s:
                raise TimeoutError(f"request not received within {self._total_s:g} s") from None
            raise TimeoutError(f"nothing received for {self._per_read_s:g} s") from None
        finally:
            self._sock.settimeout(self._per_read_s)  # writes keep the per-read timeout
