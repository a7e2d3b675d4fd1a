"""What is wrong with a broker message, before kombu or Celery reads any of it.

The whole message is held against one declared schema (``message_schema.py``):

* on Redis, :func:`check_envelope` takes the raw bytes TAKE popped, before kombu parses
  them (``redis_transport.py``): envelope, properties, delivery info, headers, then the
  body (base64, size, compression inflated in bounded steps, ``[args, kwargs, embed]``);
* for a message kombu built itself (another transport), :func:`problem` checks the same
  headers, delivery info and body from the kombu ``Message`` (the worker's consumer
  calls it; a message the Redis transport already checked is not checked twice).

A refusal is a ``(kind, reason)``: the reason names the field (``header 'eta' ...``,
``body's embed.chain[0] ...``), the kind is the dead letter's.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any

import msgspec

from persistence import task_ids
from tasks.validation import InvalidAgentInput, check_json_value
from workers.broker import inflate
from workers.broker.message_schema import Body, DeliveryInfo, Envelope, Headers, KombuEnvelope

# kinds of poison (the ``kind`` of a dead letter)
ENVELOPE, ENCODING, BODY, HEADERS, UNKNOWN_TASK, TOO_LARGE, OTHER = (
    "envelope",
    "encoding",
    "body",
    "headers",
    "unknown_task",
    "too_large",
    "other",
)
#: args / kwargs / embed values nested at most as deep as ``enqueue`` allows input
#: (the body list and kwargs are the two levels above them)
MAX_BODY_DEPTH = 2 + 32
ACCEPTED = ("application/json",)  # celeryconfig.accept_content = ["json"]

Problem = tuple[str, str]  # (kind, reason)

_ENVELOPE = msgspec.json.Decoder(Envelope)
_KOMBU = msgspec.json.Decoder(KombuEnvelope)
#: queues whose messages are Celery tasks, named by the worker's consumer
#: (``consumer.py``); other queues on the transport (control replies, plain kombu
#: consumers) are held to kombu's envelope only
TASK_QUEUES: set[str] = set()
_BODY = msgspec.json.Decoder(Body)
_RAW = msgspec.json.Decoder()
# What only a walk of the decoded body can find, and its cheap sign in the raw JSON:
# nesting (brackets), NUL (only escaped in valid JSON), integers beyond 64 bits.
_MAYBE_DEEP = MAX_BODY_DEPTH - 4
_TYPED_HEADERS = frozenset(Headers.__struct_fields__)  # (stamps: walked when not empty)
_DIGITS = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))  # digits -> "0"
_LONG_INT = b"0" * 19  # (translate + find: a third of what a regex costs here)


class Refused(ValueError):
    """A message that cannot become a task: its dead letter's kind, reason, task id."""

    def __init__(self, kind: str, reason: str, task_id: str | None = None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.task_id = kind, reason, task_id


def envelope_limit(max_bytes: int) -> int:
    """Largest raw envelope: the body limit in base64 plus room for headers."""
    return max_bytes * 4 // 3 + 65_536


def register_task_queues(names: Any) -> None:
    TASK_QUEUES.update(str(n) for n in names)


# --- Redis: the raw envelope ------------------------------------------------------------
def check_envelope(raw: bytes, max_bytes: int, task: bool = True) -> dict[str, Any]:
    """The envelope as kombu reads it (a dict), once the whole message passed the schema
    (``task``: a Celery task message; else kombu's envelope only); :class:`Refused`
    otherwise."""
    if len(raw) > envelope_limit(max_bytes):
        raise Refused(TOO_LARGE, f"envelope of {len(raw)} bytes is over the limit")
    if not task:
        return _check_kombu_envelope(raw, max_bytes)
    try:
        env = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as exc:
        raise Refused(*_envelope_reason(exc), _task_id_of(raw)) from None
    except msgspec.DecodeError as exc:
        where = _surrogate_at(raw, "envelope")
        if where is not None:  # valid JSON but not UTF-8: name the field that holds it
            kind = HEADERS if where.startswith("envelope.headers") else ENVELOPE
            raise Refused(kind, where) from None
        raise Refused(ENVELOPE, f"envelope is not JSON in UTF-8: {exc}") from None
    except RecursionError:
        raise Refused(HEADERS, "envelope is nested too deep") from None
    task_id = env.headers.id
    if env.properties.body_encoding != "base64":
        raise Refused(ENVELOPE, "properties' body_encoding must be 'base64'", task_id)
    try:
        body = binascii.a2b_base64(env.body, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise Refused(ENVELOPE, f"envelope's body is not base64: {exc}", task_id) from None
    found = body_problem(body, env.content_type, env.headers.compression, max_bytes)
    if found is not None:
        raise Refused(*found, task_id)
    try:
        result: dict[str, Any] = _RAW.decode(raw)  # for kombu: the same JSON, plain values
    except RecursionError:  # (the typed decode skipped an unknown header this deep)
        raise Refused(HEADERS, "a header is nested too deep", task_id) from None
    headers = result["headers"]
    if headers.get("stamps") or not headers.keys() <= _TYPED_HEADERS:
        try:  # headers Celery passes on untouched (stamps, others) go to the pool too
            check_json_value(headers, root="headers", max_depth=MAX_BODY_DEPTH)
        except InvalidAgentInput as exc:
            raise Refused(HEADERS, str(exc), task_id) from None
    return result


def _check_kombu_envelope(raw: bytes, max_bytes: int) -> dict[str, Any]:
    try:
        env = _KOMBU.decode(raw)
        result: dict[str, Any] = _RAW.decode(raw)
    except msgspec.ValidationError as exc:
        raise Refused(*_envelope_reason(exc)) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise Refused(ENVELOPE, f"envelope is not JSON in UTF-8: {exc!r}") from None
    compression = (env.headers or {}).get("compression")
    if compression is not None:  # kombu inflates it whole as it builds the message
        try:
            body = binascii.a2b_base64(env.body, strict_mode=True)
            inflate.inflate(body, str(compression), max_bytes)
        except inflate.TooLarge as exc:
            raise Refused(TOO_LARGE, f"compressed message body: {exc}") from None
        except Exception as exc:  # any codec error: kombu could not read it either
            raise Refused(ENCODING, f"body cannot be decompressed: {exc}") from None
    return result


def _envelope_reason(exc: msgspec.ValidationError) -> Problem:
    msg, path = _split(exc)
    if path.startswith("$.headers."):
        field, rest = _first(path[len("$.headers.") :])
        return HEADERS, f"header {field!r}{rest}: {msg}"
    if path == "$.headers":
        if msg.startswith("header ") or "missing required field" in msg:
            return HEADERS, msg if msg.startswith("header ") else f"headers: {msg}"
        return ENVELOPE, f"headers: {msg}"
    where = path[2:] if path.startswith("$.") else "envelope"
    return ENVELOPE, f"{where}: {msg}"


def _split(exc: msgspec.ValidationError) -> tuple[str, str]:
    """msgspec's "<what> - at `<path>`" as (what, path)."""
    msg, sep, path = str(exc).rpartition(" - at `")
    return (msg, path.rstrip("`")) if sep else (str(exc), "$")


def _first(path: str) -> tuple[str, str]:
    """``timelimit[0]`` -> (``timelimit``, ``[0]``)."""
    m = re.match(r"[^.\[]+", path)
    return (m.group(), path[m.end() :]) if m else (path, "")


def _surrogate_at(raw: bytes, root: str) -> str | None:
    """Where JSON msgspec refused holds a lone surrogate escape (msgspec only says
    "truncated"), as ``enqueue``'s rule names it: ``envelope.headers.id: contains ...``."""
    if not re.search(rb"\\u[dD][89a-fA-F]", raw):
        return None
    try:
        check_json_value(json.loads(raw), root=root, max_depth=1 << 16)
    except InvalidAgentInput as exc:
        return str(exc)
    except (ValueError, RecursionError):
        pass
    return f"{root} holds a lone surrogate (\\ud800-\\udfff), which is not UTF-8"


def _task_id_of(raw: bytes) -> str | None:
    """The header id of a refused envelope, for its dead letter, when it is one."""
    try:
        value = _RAW.decode(raw)["headers"]["id"]
    except Exception:  # the envelope is refused anyway: its id is a nicety
        return None
    return value if task_ids.is_task_id(value) else None


# --- the body, whatever the transport --------------------------------------------------
def body_problem(
    body: bytes, content_type: str | None, compression: str | None, max_bytes: int
) -> Problem | None:
    """What is wrong with a body (as sent: maybe compressed), or None."""
    if len(body) > max_bytes:
        return TOO_LARGE, f"message body of {len(body)} bytes is over the limit of {max_bytes}"
    if compression is not None:
        try:
            body = inflate.inflate(body, compression, max_bytes)
        except inflate.TooLarge as exc:
            return TOO_LARGE, f"compressed ({compression}) message body: {exc}"
        except Exception as exc:  # any codec error: the body cannot be read
            return ENCODING, f"body cannot be decompressed ({compression}): {exc}"
    return _json_body_problem(body, content_type)


def _json_body_problem(body: bytes, content_type: str | None) -> Problem | None:
    if content_type not in ACCEPTED:
        shown = str(content_type)[:60]
        return ENCODING, f"body cannot be decoded: content type {shown!r} is not accepted"
    try:
        _BODY.decode(body)
    except msgspec.ValidationError as exc:
        msg, path = _split(exc)
        try:  # (msgspec validates as it parses: is it JSON at all?)
            _RAW.decode(body)
        except msgspec.DecodeError as bad:
            return _undecodable(body, bad)
        return BODY, f"{_body_path(path)}: {msg}"
    except msgspec.DecodeError as exc:
        return _undecodable(body, exc)
    except RecursionError:
        return BODY, f"body is nested far more than {MAX_BODY_DEPTH} levels deep"
    if body.count(b"[") + body.count(b"{") > _MAYBE_DEEP or b"\\u0000" in body:
        pass  # walk below
    elif _LONG_INT not in body.translate(_DIGITS):
        return None
    try:
        check_json_value(_RAW.decode(body), root="body", max_depth=MAX_BODY_DEPTH)
    except InvalidAgentInput as exc:
        return BODY, _body_names(str(exc))
    return None


def _undecodable(body: bytes, exc: Exception) -> Problem:
    where = _surrogate_at(body, "body")
    if where is not None:
        return BODY, _body_names(where)
    return ENCODING, f"body cannot be decoded (JSON): {exc}"


def _body_path(path: str) -> str:
    """msgspec's path in the body (``$[2].chain[0]``) as the part's name."""
    for i, part in enumerate(("args", "kwargs", "embed")):
        prefix = f"$[{i}]"
        if path.startswith(prefix):
            return f"body's {part}{path[len(prefix) :]}"
    return "body must be [args, kwargs, embed]"


def _body_names(text: str) -> str:
    for i, part in enumerate(("args", "kwargs", "embed")):
        text = text.replace(f"body[{i}]", f"body's {part}", 1)
    return text


# --- a message kombu built ------------------------------------------------------------
def problem(message: Any, max_bytes: int) -> Problem | None:
    """``(kind, reason)`` when ``message`` cannot be run as a task, else None."""
    if getattr(message, "agentq_checked", False):
        return None  # the Redis transport held its raw envelope against the schema
    headers = message.headers
    if not isinstance(headers, dict):
        return HEADERS, f"headers are a {type(headers).__name__}, not an object"
    if "task" not in headers:
        return HEADERS, "no 'task' header: not a Celery task message (protocol 2)"
    try:
        msgspec.convert(headers, Headers)
        msgspec.convert(message.delivery_info or {}, DeliveryInfo)
    except msgspec.ValidationError as exc:
        msg, path = _split(exc)
        field, rest = _first(path[2:]) if path.startswith("$.") else ("", "")
        where = f"header {field!r}{rest}: " if field else ""
        return HEADERS, f"{where}{msg}"
    # kombu inflated the body already (it does so as it builds the message)
    body = message.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    return body_problem(body, message.content_type, None, max_bytes)
