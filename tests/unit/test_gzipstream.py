"""gzipstream.Chunks: a family's blocks compressed in runs, again only where they changed."""

from __future__ import annotations

import gzip

from exporter.exposition import gzipstream


class RecordingPieces(gzipstream.Pieces):
    """Pieces that remember the text of each piece they made."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[bytes] = []

    def piece(self, data: bytes) -> bytes:
        self.texts.append(data)
        return super().piece(data)


def body(pieces: list[bytes], crc: int, size: int) -> bytes:
    return gzip.decompress(
        gzipstream.HEADER
        + b"".join(pieces)
        + gzipstream.last_piece(b"")
        + gzipstream.trailer(crc, size)
    )


def block(n: int) -> bytes:
    """A block of half a chunk: two make a run."""
    return (b"line %d\n" % n) * (gzipstream.CHUNK // 14 + 1)


def test_blocks_added_at_the_end_compress_only_the_last_run_again() -> None:
    pieces = RecordingPieces()
    chunks = gzipstream.Chunks(pieces)
    blocks = [block(n) for n in range(5)]
    assert body(*chunks.deflate(blocks, [1] * 5, layout=0, now=1)) == b"".join(blocks)
    assert len(pieces.texts) == 3  # blocks 0-1, 2-3, 4
    pieces.texts.clear()
    blocks += [block(n) for n in range(5, 8)]
    assert body(*chunks.deflate(blocks, [1] * 5 + [2] * 3, layout=0, now=2)) == b"".join(blocks)
    assert pieces.texts == [blocks[4] + blocks[5], blocks[6] + blocks[7]]


def test_a_new_layout_draws_the_runs_again() -> None:
    pieces = RecordingPieces()
    chunks = gzipstream.Chunks(pieces)
    blocks = [block(n) for n in range(4)]
    chunks.deflate(blocks, [1] * 4, layout=0, now=1)
    pieces.texts.clear()
    blocks = [b"", *blocks[1:]]
    assert body(*chunks.deflate(blocks, [2] * 4, layout=1, now=2)) == b"".join(blocks)
    assert pieces.texts == [b"".join(blocks[:3]), blocks[3]]
