"""A TCP proxy in front of Redis that breaks every connection at one chosen moment.

When a reply from Redis first contains ``trigger`` (bytes), the proxy runs
``on_trigger`` (the test kills the worker there), closes every other connection, stops
accepting new ones for ``outage`` seconds, passes that one reply on (unless
``forward=False``), and then closes its connection too: to the client it looks like
Redis going away right after answering. Used to put a worker exactly in the gap after
it has taken a message off its queue.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class BreakingProxy:
    def __init__(
        self,
        upstream: tuple[str, int],
        trigger: bytes,
        outage: float = 3.0,
        on_trigger: Callable[[], None] | None = None,
        forward: bool = True,
    ) -> None:
        self.upstream = upstream
        self.trigger = trigger
        self.outage = outage
        self.on_trigger = on_trigger
        self.forward = forward
        self.fired = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(64)
        s.settimeout(0.2)
        return s

    def start(self) -> BreakingProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._close_all()
        with contextlib.suppress(OSError):
            self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed for the outage: reopened by _reopen
                self._stop.wait(0.05)
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_redis: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_redis and not self.fired.is_set() and self.trigger in data:
                    self._break(src, dst, data)
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.close()

    def _break(self, src: socket.socket, dst: socket.socket, reply: bytes) -> None:
        if self.on_trigger is not None:
            self.on_trigger()
        self.fired.set()
        self._close_all(keep=(src, dst))
        self._listener.close()  # refused from now on
        with contextlib.suppress(OSError):
            if self.forward:
                dst.sendall(reply)
            dst.shutdown(socket.SHUT_WR)  # the reply, then end of stream: Redis went away
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.close()
        threading.Thread(target=self._reopen, daemon=True).start()

    def _reopen(self) -> None:
        self._stop.wait(self.outage)
        if not self._stop.is_set():
            self._listener = self._listen(self.port)

    def _close_all(self, keep: tuple[socket.socket, ...] = ()) -> None:
        with self._lock:
            conns, self._conns = self._conns, [c for c in self._conns if c in keep]
        for s in conns:
            if s not in keep:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
