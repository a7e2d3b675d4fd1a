"""Stream entries as Redis holds them: a field name that appears twice keeps both values.

A Redis stream entry is a list of field/value pairs, and nothing stops a producer from
writing ``XADD agentq:events * e <a> e <b>``. redis-py turns each entry into a dict, so
the second ``e`` overwrote the first, which vanished without a trace. The hooks write
one ``e`` per entry; an entry with more is not theirs, and the recorder sets it aside
whole (``Recorder._process``): the first value as ``e``, the next ones as ``e#2``, ``e#3``
… (kept as ``f.e#2`` … in the dead letter), with a reason naming the field.

:func:`keep_repeated_fields` installs these parsers for ``XREADGROUP`` and ``XAUTOCLAIM``
on the recorder's client, in the shapes redis-py's own parsers return.
"""

from __future__ import annotations

from typing import Any


class Fields(dict[bytes, Any]):
    """An entry's fields; ``repeated`` names those it had more than once."""

    repeated: tuple[bytes, ...] = ()


def fields_of(pairs: list[Any] | None) -> Fields | None:
    if pairs is None:
        return None
    out = Fields()
    repeated: list[bytes] = []
    for name, value in zip(pairs[::2], pairs[1::2], strict=True):
        if name in out:
            n = 2
            while name + b"#%d" % n in out:
                n += 1
            out[name + b"#%d" % n] = value
            repeated.append(name)
        else:
            out[name] = value
    if repeated:
        out.repeated = tuple(dict.fromkeys(repeated))
    return out


def _entries(raw: list[Any] | None) -> list[Any]:
    return [(None, None) if r is None else (r[0], fields_of(r[1])) for r in raw or []]


def parse_xreadgroup(response: Any, **_: Any) -> list[Any]:
    """redis-py's legacy shape, ``[[stream, [(id, fields), …]]]``, from a RESP3 reply (a
    map of streams, what redis-py 8 asks for) or a RESP2 one (a list of pairs)."""
    if not response:
        return []
    streams = response.items() if isinstance(response, dict) else response
    return [[stream, _entries(entries)] for stream, entries in streams]


def parse_xautoclaim(response: Any, **options: Any) -> Any:
    if options.get("parse_justid", False):
        return response[1]
    return [response[0], _entries(response[1]), *response[2:]]


def keep_repeated_fields(client: Any) -> None:
    client.set_response_callback("XREADGROUP", parse_xreadgroup)
    client.set_response_callback("XAUTOCLAIM", parse_xautoclaim)


def repeated_reason(fields: Any) -> str | None:
    """Why an entry with repeated fields is set aside, or None for a good one."""
    names = getattr(fields, "repeated", ())
    if not names:
        return None
    shown = ", ".join(repr(n.decode(errors="replace")) for n in names)
    return (
        f"entry has field {shown} more than once (a hook writes one 'e'): every value is "
        "kept here, the first as the field, the next ones as <name>#2, #3 …"
    )
