"""Bounded inflating of compressed message bodies (issue 20, item 6)."""

from __future__ import annotations

import bz2
import lzma
import zlib

import pytest

from workers.broker import inflate

CODECS = {
    "application/x-gzip": zlib.compress,  # kombu's name for zlib
    "application/x-bz2": bz2.compress,
    "application/x-lzma": lzma.compress,
}


@pytest.mark.parametrize("name", sorted(CODECS))
def test_a_body_under_the_limit_inflates_whole(name: str) -> None:
    data = b"[[], {}, null]" * 1000
    assert inflate.inflate(CODECS[name](data), name, len(data)) == data


@pytest.mark.parametrize("name", sorted(CODECS))
def test_a_bomb_stops_just_past_the_limit(name: str) -> None:
    bomb = CODECS[name](b"\0" * (32 << 20))
    with pytest.raises(inflate.TooLarge):
        inflate.inflate(bomb, name, 1 << 20)


@pytest.mark.parametrize("name", sorted(CODECS))
def test_truncated_or_foreign_data_is_an_error(name: str) -> None:
    whole = CODECS[name](b"x" * 10_000)
    with pytest.raises(Exception, match=r"."):
        inflate.inflate(whole[: len(whole) // 2], name, 1 << 20)
    with pytest.raises(Exception, match=r"."):
        inflate.inflate(b"not compressed at all", name, 1 << 20)


def test_an_unknown_compression_is_named() -> None:
    with pytest.raises(ValueError, match="application/x-what"):
        inflate.inflate(b"", "application/x-what", 10)
