"""HTTP/1.0 exchanges over a plain socket, for requests no HTTP client library would send
(a 70 KB request line, ``Content-Length: ²``, a lone surrogate in a path) and clients that
stop mid-request."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> bytes:
    """A request head and ``body``; no header is added. The head's lines are latin-1 (as
    http.server reads them: ``²`` is one byte) when they can be, else UTF-8."""
    lines = [f"{method} {target} HTTP/1.0"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return b"".join(_wire(line) + b"\r\n" for line in [*lines, ""]) + body


def _wire(line: str) -> bytes:
    try:
        return line.encode("latin-1")
    except UnicodeEncodeError:
        return line.encode("utf-8", "surrogatepass")


def exchange(port: int, data: bytes, timeout: float = 30.0) -> Reply | None:
    """Send ``data``, end our side, read to the end; the reply, or None if there was none."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server answered and closed before taking it all: read on
            pass
        return parse(read_all(sock))


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except ConnectionResetError:
        pass
    return b"".join(chunks)


def parse(raw: bytes) -> Reply | None:
    if not raw:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, body)
