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

from isal import isal_zlib

# ISA-L's deflate (python-isal) at its level 1: on the exposition's own blocks it compresses
# 1.6 times as fast as zlib's level 1, to the same size (bench/deflate_cost.py). zlib stays
# for the last piece, a few hundred bytes.
LEVEL = 1
# ISA-L's level 0, for what is compressed again at nearly every scrape (the event counters of
# streaming cameras): about 2.5 times as fast as level 1, 1.7 times the bytes.
FAST_LEVEL = 0
# Magic, deflate, no flags, no modification time, no extra flags, operating system "unknown".
HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
_RAW = -15  # wbits for raw deflate: no zlib or gzip framing, the largest window


def piece(data: bytes) -> bytes:
    """`data` as a joinable raw deflate piece (empty data: no piece at all)."""
    if not data:
        return b""
    compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, _RAW)
    return compressor.compress(data) + compressor.flush(isal_zlib.Z_FULL_FLUSH)


def crc32(data: bytes, value: int = 0) -> int:
    """zlib.crc32's result, by ISA-L: over twice as fast on a body's megabytes."""
    crc: int = isal_zlib.crc32(data, value)
    return crc


class Pieces:
    """Makes pieces with one compressor: a full flush after each piece empties its window, so
    what follows refers to nothing before it, and a piece costs no new compressor (allocating
    one's 256 kB of state took longer than compressing a small piece). Not thread-safe."""

    def __init__(self, level: int = LEVEL) -> None:
        self._compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, _RAW)

    def piece(self, data: bytes) -> bytes:
        """The same as piece(data) at the level given, byte for byte."""
        if not data:
            return b""
        compressor = self._compressor
        return compressor.compress(data) + compressor.flush(isal_zlib.Z_FULL_FLUSH)


def last_piece(data: bytes) -> bytes:
    """`data` as the piece that ends the deflate stream (its final block; may be empty)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, _RAW)
    return compressor.compress(data) + compressor.flush(zlib.Z_FINISH)


def trailer(crc: int, size: int) -> bytes:
    """CRC-32 and length of the whole uncompressed text, little-endian, length mod 2^32."""
    return struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


# CRC-32 combination (zlib's crc32_combine, which Python's zlib does not expose): the CRC of
# A + B from crc(A), crc(B) and len(B), in about 25 multiplications modulo the CRC polynomial
# (some 80 µs in Python): cheap per family of a body, too dear per block.
_POLY = 0xEDB88320  # reflected


def _multiply(a: int, b: int) -> int:
    """a * b modulo the polynomial, both reflected."""
    m = 1 << 31
    product = 0
    while True:
        if a & m:
            product ^= b
            if not a & (m - 1):
                return product
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> tuple[int, ...]:
    """x^(2^k) modulo the polynomial, k = 0..31."""
    power = 1 << 30  # x^1
    table = [power]
    for _ in range(31):
        power = _multiply(power, power)
        table.append(power)
    return tuple(table)


_X2N = _powers()


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B, given crc1 = crc32(A), crc2 = crc32(B) and length2 = len(B).

    >>> crc32_combine(zlib.crc32(b"ab"), zlib.crc32(b"cde"), 3) == zlib.crc32(b"abcde")
    True
    """
    operator = 1 << 31  # x^0
    k = 3  # x^(8 * length2): one byte is eight bits
    n = length2
    while n:
        if n & 1:
            operator = _multiply(_X2N[k & 31], operator)
        n >>= 1
        k += 1
    return _multiply(operator, crc1) ^ crc2
