"""Timed /metrics scrapes over one keep-alive connection, and cheap reads of a few families."""

from __future__ import annotations

import http.client
import time
import zlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass

# What Prometheus 2.x sends (minus OpenMetrics, which the exporter does not serve).
ACCEPT = "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
TIMEOUT_SECONDS = 60.0
CHUNK = 64 * 1024
GZIP_PIECE = 4096  # compressed input per step; bounds the copy made at each gzip member's end


class ScrapeError(RuntimeError):
    pass


@dataclass(frozen=True)
class Scrape:
    seconds: float  # from sending the request to the last byte of the body
    body: bytes  # as sent (compressed when gzip)
    gzip: bool


class Scraper:
    """GETs one path on one keep-alive connection, like a Prometheus scrape loop."""

    def __init__(self, host: str, port: int, path: str = "/metrics") -> None:
        self._connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT_SECONDS)
        self._path = path

    def close(self) -> None:
        self._connection.close()

    def get(self, gzip: bool) -> Scrape:
        headers = {"Accept": ACCEPT, "Accept-Encoding": "gzip" if gzip else "identity"}
        started = time.perf_counter()
        try:
            self._connection.request("GET", self._path, headers=headers)
            response = self._connection.getresponse()
            body = response.read()
        except (http.client.HTTPException, OSError) as exc:
            self._connection.close()  # the next request reconnects
            raise ScrapeError(f"GET {self._path}: {exc!r}") from exc
        seconds = time.perf_counter() - started
        if response.status != 200:
            raise ScrapeError(f"GET {self._path}: HTTP {response.status}")
        if gzip and response.getheader("Content-Encoding") != "gzip":
            raise ScrapeError(f"GET {self._path}: asked for gzip, got an uncompressed body")
        return Scrape(seconds, body, gzip)


def text_chunks(scrape: Scrape) -> Iterator[bytes]:
    """The exposition text in pieces, decompressing lazily (gzip members one after another)."""
    if not scrape.gzip:
        view = memoryview(scrape.body)
        for offset in range(0, len(view), CHUNK):
            yield bytes(view[offset : offset + CHUNK])
        return
    yield from _gunzip(scrape.body)


def _gunzip(body: bytes) -> Iterator[bytes]:
    view = memoryview(body)
    member = zlib.decompressobj(wbits=31)
    for offset in range(0, len(view), GZIP_PIECE):
        data: bytes | memoryview = view[offset : offset + GZIP_PIECE]
        while data:
            text = member.decompress(data)
            if text:
                yield text
            if not member.eof:
                break  # the piece is used up; the member goes on in the next one
            data = member.unused_data
            member = zlib.decompressobj(wbits=31)


def family_sums(scrape: Scrape, names: Collection[str]) -> dict[str, float]:
    """The sum of each named family's samples.

    Reads the body only until every named family has been passed, so families near the top
    of a large body cost next to nothing to read.
    """
    wanted = {name.encode(): name for name in names}
    sums = dict.fromkeys(names, 0.0)
    seen: set[bytes] = set()
    current: bytes | None = None
    rest = b""
    for chunk in text_chunks(scrape):
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.startswith(b"# TYPE "):
                family = line.split(b" ")[2]
                current = family if family in wanted else None
                if current is None and len(seen) == len(wanted):
                    return sums
                if current is not None:
                    seen.add(current)
            elif current is not None and line.startswith(current):
                name_end = len(current)
                if line[name_end : name_end + 1] in (b"{", b" "):
                    sums[wanted[current]] += float(line.rsplit(b" ", 1)[1])
    return sums


def decompressed(scrape: Scrape) -> bytes:
    return b"".join(text_chunks(scrape))
