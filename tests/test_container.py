"""Container: every field round-trips; malformed bytes raise only DecodeError, before any allocation."""

from __future__ import annotations

import zlib

import pytest

from neuralcodec.bitstream import MAX_PIXELS, Header, pack, unpack
from neuralcodec.bitstream.container import _varint
from neuralcodec.errors import DecodeError

HEADER = Header(family_id=1, model_id=0, rate_point=3, weights_hash=b"\x01\x02\x03\x04", height=512, width=768,
                channels=3, bit_depth=8)
CHUNKS = [b"z" * 900, b"y" * 30000]


def with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "big")


def test_roundtrip_every_field():
    header = Header(family_id=7, model_id=2, rate_point=9, weights_hash=b"\xaa\xbb\xcc\xdd", height=1, width=32768,
                    channels=1, bit_depth=16, flags=0)
    got, chunks = unpack(pack(header, [b"", b"abc", b"\x00" * 300]))
    assert got == header and chunks == [b"", b"abc", b"\x00" * 300]


def test_fixed_overhead_at_most_32_bytes_for_kodak():
    data = pack(HEADER, CHUNKS)
    assert len(data) - sum(map(len, CHUNKS)) <= 32


def test_every_truncation_is_refused():
    data = pack(HEADER, [b"z" * 20, b"y" * 50])
    for n in range(len(data)):
        with pytest.raises(DecodeError):
            unpack(data[:n])


def test_every_bit_flip_is_refused():
    data = pack(HEADER, [b"z" * 20, b"y" * 50])
    for i in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[i] ^= 1 << bit
            with pytest.raises(DecodeError):
                unpack(bytes(flipped))


def test_wrong_magic_and_version():
    data = pack(HEADER, CHUNKS)
    with pytest.raises(DecodeError, match="magic"):
        unpack(b"\x89PNG" + data[4:])
    with pytest.raises(DecodeError, match="version"):
        unpack(with_crc(data[:4] + b"\x09" + data[5:-4]))
    with pytest.raises(DecodeError):
        unpack(b"")


def _body(height: int, width: int, count: int, lengths: list[int], payload: bytes, channels: int = 3,
          flags: int = 0, version: int = 1, icc: bytes = b"") -> bytes:
    """A container written field by field (version 1 unless asked), with a valid CRC."""
    head = b"NCDC" + bytes([version, 1, 0, 3]) + b"\x01\x02\x03\x04" + _varint(height) + _varint(width)
    head += bytes([channels, 8, flags, count]) + b"".join(_varint(n) for n in lengths) + icc
    return with_crc(head + payload)


def test_absurd_dimensions_refused_with_valid_crc():
    for h, w in [(100000, 100000), (0, 10), (20000, 20000), (2**34, 1)]:
        with pytest.raises(DecodeError):
            unpack(_body(h, w, 1, [3], b"abc"))
    assert 20000 * 20000 > MAX_PIXELS


def test_inflated_lengths_and_counts_refused_with_valid_crc():
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 1, [2**30], b"abc"))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 2, [1, 1], b"abc"))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 200, [1], b"a"))
    with pytest.raises(DecodeError):  # a varint that never ends
        unpack(with_crc(b"NCDC" + bytes([1, 1, 0, 3]) + b"abcd" + b"\xff" * 12))
    with pytest.raises(DecodeError):
        unpack(_body(16, 16, 1, [3], b"abc", channels=2))


def test_icc_profile_round_trips_in_version_2():
    profile = bytes(range(256)) * 3
    header = Header(family_id=1, model_id=0, rate_point=3, weights_hash=b"\x01\x02\x03\x04", height=5, width=7,
                    channels=3, bit_depth=8, icc_profile=profile)
    data = pack(header, CHUNKS)
    got, chunks = unpack(data)
    assert got.icc_profile == profile and got.flags == 1 and got.version == 2 and chunks == CHUNKS
    plain = pack(HEADER, CHUNKS)  # without a profile a version-2 file is as long as version 1's
    assert unpack(plain)[0].flags == 0 and len(plain) == len(_body(512, 768, 2, [900, 30000], b"".join(CHUNKS)))


def test_version_1_files_keep_reading():
    """A version-1 file (this layout was written until 2026-11-30) parses; its flags byte is not read."""
    header, chunks = unpack(_body(16, 24, 2, [1, 2], b"abc"))
    assert header.version == 1 and header.icc_profile == b"" and chunks == [b"a", b"bc"]
    header, _ = unpack(_body(16, 24, 1, [3], b"abc", flags=0x80))
    assert header.version == 1


def test_version_2_refuses_unknown_flags_and_bad_profile_lengths():
    with pytest.raises(DecodeError, match="flags"):
        unpack(_body(16, 24, 1, [3], b"abc", flags=0x02, version=2))
    for claimed in (0, 2**21, 50):  # empty, over the limit, longer than the file
        with pytest.raises(DecodeError):
            unpack(_body(16, 24, 1, [3], b"abc", flags=0x01, version=2, icc=_varint(claimed) + b"\x00" * 10))
