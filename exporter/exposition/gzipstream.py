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
from dataclasses import dataclass

from isal import isal_zlib

# ISA-L's deflate (python-isal) at its level 1: on the exposition's own blocks it compresses
# 1.6 times as fast as zlib's level 1, to the same size (bench/deflate_cost.py). zlib stays
# for the last piece, a few hundred bytes.
LEVEL = 1
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

    def __init__(self) -> None:
        self._compressor = isal_zlib.compressobj(LEVEL, isal_zlib.DEFLATED, _RAW)

    def piece(self, data: bytes) -> bytes:
        """The same as piece(data), byte for byte."""
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


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of A + B, given crc1 = crc32(A), crc2 = crc32(B) and length2 = len(B) (ISA-L's,
    under a microsecond).

    >>> crc32_combine(zlib.crc32(b"ab"), zlib.crc32(b"cde"), 3) == zlib.crc32(b"abcde")
    True
    """
    crc: int = isal_zlib.crc32_combine(crc1, crc2, length2)
    return crc


# Text per chunk (Chunks): ISA-L spends about as long starting a piece (its full flush resets
# the match tables) as compressing a few kilobytes, and a piece refers to nothing before it.
# On the exposition's event blocks (bench/deflate_cost.py), pieces of 64 kB rather than a
# piece per 4.7 kB block took a quarter of the time and made two thirds of the bytes.
CHUNK = 64 * 1024


@dataclass(slots=True)
class _Chunk:
    start: int  # its blocks: [start, stop)
    stop: int
    at: int = -1  # the stamp it was compressed at (-1: not yet)
    piece: bytes = b""
    crc: int = 0
    size: int = 0


class Chunks:
    """The pieces of a sequence of blocks (one family's, every account's), compressed in runs
    of consecutive blocks of about CHUNK bytes of text: a changed block costs its chunk, not
    the sequence, nor a piece of its own.

    Each block comes with the stamp of its last change; a chunk is compressed again when one
    of its blocks has a stamp later than the chunk's. The runs are drawn again, and all
    compressed, when `layout` changes: the caller changes it whenever which blocks there are
    changes (not their text), but for blocks added at the end, which only the last run takes.

    >>> chunks = Chunks(Pieces())
    >>> pieces, crc, size = chunks.deflate([b"a\\n", b"b\\n"], [1, 1], layout=0, now=1)
    >>> body = HEADER + b"".join(pieces) + last_piece(b"") + trailer(crc, size)
    >>> import gzip; gzip.decompress(body)
    b'a\\nb\\n'
    """

    def __init__(self, compressor: Pieces) -> None:
        self._compressor = compressor
        self._layout: int | None = None
        self._chunks: list[_Chunk] = []

    def deflate(
        self, blocks: list[bytes], stamps: list[int], layout: int, now: int
    ) -> tuple[list[bytes], int, int]:
        """The blocks' text as pieces to join, its CRC-32 and its length; `now` is at least
        every stamp."""
        chunks = self._chunks
        if layout != self._layout:
            self._layout = layout
            chunks[:] = runs(blocks)
        elif (chunks[-1].stop if chunks else 0) != len(blocks):  # blocks added at the end
            start = chunks.pop().start if chunks else 0
            chunks.extend(runs(blocks, start))
        crc = size = 0
        for chunk in self._chunks:
            if chunk.at < 0 or max(stamps[chunk.start : chunk.stop]) > chunk.at:
                text = b"".join(blocks[chunk.start : chunk.stop])
                chunk.piece = self._compressor.piece(text)
                chunk.crc, chunk.size, chunk.at = crc32(text), len(text), now
            crc = crc32_combine(crc, chunk.crc, chunk.size)
            size += chunk.size
        return [chunk.piece for chunk in self._chunks], crc, size


def runs(blocks: list[bytes], start: int = 0) -> list[_Chunk]:
    """Consecutive runs of the blocks from `start`, each ending once it holds CHUNK bytes (the
    last may hold less)."""
    runs = []
    held = 0
    for at in range(start, len(blocks)):
        held += len(blocks[at])
        if held >= CHUNK:
            runs.append(_Chunk(start, at + 1))
            start, held = at + 1, 0
    if start < len(blocks):
        runs.append(_Chunk(start, len(blocks)))
    return runs
