"""One standard gzip stream (RFC 1952) assembled from pieces compressed at different times.

A piece is raw deflate (RFC 1951) from a fresh compressor, ended by a full flush: it ends on a
byte boundary, sets no final-block bit and refers to no earlier data, so pieces can be cached
and joined in any order into one deflate stream. The stream is the header, the joined pieces,
one last piece ended with Z_FINISH, then the trailer: the CRC-32 and length (mod 2^32) of the
whole uncompressed text. (Concatenated gzip members would also be valid gzip, but browsers and
`curl --compressed` stop after the first member.)

>>> import gzip
>>> body = HEADER + piece(b"a\\n") + piece(b"b\\n") + last_piece(b"c\\n")
>>> gzip.decompress(body + trailer(zlib.crc32(b"a\\nb\\nc\\n"), 6))
b'a\\nb\\nc\\n'
"""

from __future__ import annotations

import struct
import zlib

# Level 1: on exposition text it compresses within ~6 % of level 6 at well under half the CPU.
LEVEL = 1
# Magic, deflate, no flags, no modification time, no extra flags, operating system "unknown".
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_RAW = -15  # wbits for raw deflate: no zlib or gzip framing, the largest window


def piece(data: bytes) -> bytes:
    """`data` as a joinable raw deflate piece (empty data: no piece at all)."""
    if not data:
        return b""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, _RAW)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


def last_piece(data: bytes) -> bytes:
    """`data` as the piece that ends the deflate stream (its final block; may be empty)."""
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, _RAW)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


def trailer(crc: int, size: int) -> bytes:
    """CRC-32 and length of the whole uncompressed text, little-endian, length mod 2^32."""
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)
