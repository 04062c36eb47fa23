"""One logfmt or JSON line per log record, with every registered secret redacted.

A line has a length cap: a field's value keeps its first VALUE_LIMIT characters, a whole line
at most LINE_LIMIT, the rest cut with a marker that says how long the value was. Warnings and
errors of one cause (logger and message) for one account (`account_id`) are rate-limited:
RATE_BURST lines per RATE_WINDOW seconds, the others only counted and reported in one line,
`repeated log lines suppressed`, when the window has ended. Hostile input (a stream frame
with ten thousand bad events) so costs a few lines, not megabytes.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from exporter.config import LogFormat

REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 4
_QUIET_LOGGERS = ("urllib3", "websocket", "websockets")
# Everything a LogRecord carries by itself; any other attribute came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_LOGFMT_NEEDS_QUOTES = re.compile(r'[\s="\\\x00-\x1f\x7f]')
_KEY_INVALID = re.compile(r"[^\w.\-]")
# Characters of one field's value (the traceback's: LINE_LIMIT), and of one whole line.
VALUE_LIMIT = 1024
LINE_LIMIT = 16 * 1024
CUT_MARK = "…[cut, {} characters]"
_CUT_MARK = re.compile(r"…\[cut, (\d+) characters\]$")
# Warnings and errors of one logger, message and account: RATE_BURST lines per RATE_WINDOW
# seconds; the rest are counted, and the count logged once the window has ended.
RATE_WINDOW = 60.0
RATE_BURST = 10
RATE_KEYS = 100_000  # windows tracked at once; beyond, new causes pass unlimited
SUPPRESSED = "repeated log lines suppressed"
_INT_BITS = 256  # ints logged as numbers: up to 77 digits


class SecretRegistry:
    """Secrets to redact, indexed by their first characters.

    A scan costs one dict lookup per character of text however many secrets there are, and
    registering costs no rebuild. Beyond `limit` secrets the oldest is forgotten, except the
    first `pinned` ever registered: those are the password and API key, registered at start-up
    before any session key, and must outlive thousands of session keys.
    """

    def __init__(self, limit: int = 10_000, pinned: int = 16) -> None:
        self._limit = limit
        self._pin_slots = pinned
        self._lock = threading.Lock()
        self._pinned: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()
        # Buckets are tuples, replaced whole, so redact() can read without the lock.
        self._by_prefix: dict[str, tuple[str, ...]] = {}

    def add(self, secret: str) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if secret in self._pinned:
                return
            if secret in self._recent:
                self._recent.move_to_end(secret)
                return
            if len(self._pinned) < self._pin_slots:
                self._pinned.add(secret)
            else:
                self._recent[secret] = None
                if len(self._recent) > self._limit:
                    self._unindex(self._recent.popitem(last=False)[0])
            self._index(secret)

    def _index(self, secret: str) -> None:
        prefix = secret[:MIN_SECRET_LENGTH]
        bucket = (*self._by_prefix.get(prefix, ()), secret)
        # Longest first, so a secret that extends another is removed whole.
        self._by_prefix[prefix] = tuple(sorted(bucket, key=len, reverse=True))

    def _unindex(self, secret: str) -> None:
        prefix = secret[:MIN_SECRET_LENGTH]
        bucket = tuple(known for known in self._by_prefix[prefix] if known != secret)
        if bucket:
            self._by_prefix[prefix] = bucket
        else:
            del self._by_prefix[prefix]

    def __len__(self) -> int:
        return len(self._pinned) + len(self._recent)

    def redact(self, text: str, limit: int | None = None) -> str:
        """`text` with every secret replaced by REDACTED; with `limit`, only its first `limit`
        characters, read and redacted (a secret that starts before the cut goes whole), so a
        long text costs only what is kept."""
        end = len(text) if limit is None else min(limit, len(text))
        by_prefix = self._by_prefix
        if not by_prefix:
            return text if end == len(text) else text[:end]
        pieces: list[str] = []
        start = position = 0
        last_start = min(len(text) - MIN_SECRET_LENGTH, end - 1)
        while position <= last_start:
            bucket = by_prefix.get(text[position : position + MIN_SECRET_LENGTH])
            secret = bucket and next((s for s in bucket if text.startswith(s, position)), None)
            if secret:
                pieces += (text[start:position], REDACTED)
                position = start = position + len(secret)
            else:
                position += 1
        if not pieces:
            return text if end == len(text) else text[:end]
        if start < end:
            pieces.append(text[start:end])
        return "".join(pieces)


_secrets = SecretRegistry()


def register_secret(value: str) -> None:
    """Redact `value` from every log line from now on (ignored if shorter than 4 characters)."""
    _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret replaced by <redacted>, for pages and errors."""
    return _secrets.redact(text)


Field = str | int | float | bool | None


def _timestamp(created: float) -> str:
    # Rounded in whole milliseconds: float seconds of .123 are often .12299...
    seconds, millis = divmod(round(created * 1000), 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def _rounded(value: float) -> float:
    """Three decimals, or three significant digits below 1: `retry_in=2.346`, not 16 digits."""
    if value == 0 or abs(value) >= 1:
        return round(value, 3)
    return float(f"{value:.3g}")


def _cut(text: str, limit: int) -> str:
    """`text` redacted and, beyond `limit` characters, cut: its start and a marker.

    >>> _cut("abcdefgh", 3)
    'abc…[cut, 8 characters]'
    """
    if len(text) <= limit:
        return redact(text)
    return f"{_secrets.redact(text, limit)}{CUT_MARK.format(len(text))}"


def _field_value(value: object, limit: int = VALUE_LIMIT) -> Field:
    if isinstance(value, str):
        return _cut(value, limit)
    if value is None or isinstance(value, int):
        # str() of an int past 4,300 digits fails; one of 1,000 digits says nothing either.
        if isinstance(value, int) and value.bit_length() > _INT_BITS:
            return f"an integer of more than {len(str(1 << _INT_BITS)) - 1} digits"
        return value
    if isinstance(value, float) and math.isfinite(value):
        return _rounded(value)
    try:
        text = str(value)
    except ValueError:
        text = f"a {type(value).__name__} that cannot be shown"
    return _cut(text, limit)


def _add(fields: dict[str, Field], key: str, value: object, limit: int = VALUE_LIMIT) -> None:
    """Add a field; a key already taken gets a trailing underscore rather than losing a value."""
    key = _KEY_INVALID.sub("_", key[:VALUE_LIMIT]) or "_"
    while key in fields:
        key += "_"
    fields[key] = _field_value(value, limit)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        # The arguments are not shown: logging's own fallback would print them raw.
        return f"{record.msg} (log arguments did not match the message)"


def record_fields(record: logging.LogRecord) -> dict[str, Field]:
    """ts, level, logger, msg, every `extra=` attribute, then error and stack if any."""
    fields: dict[str, Field] = {}
    _add(fields, "ts", _timestamp(record.created))
    _add(fields, "level", record.levelname.lower())
    _add(fields, "logger", record.name)
    _add(fields, "msg", _message(record))
    for key, value in vars(record).items():
        if key not in _STANDARD_ATTRIBUTES:
            _add(fields, key, value)
    stack: list[str] = []
    if record.exc_info is not None:
        _, error, trace = record.exc_info
        if error is not None:
            _add(fields, "error", "".join(traceback.format_exception_only(error)).strip())
            stack.append("".join(traceback.format_exception(type(error), error, trace)).strip())
    if record.stack_info:
        stack.append(record.stack_info)
    if stack:
        _add(fields, "stack", "\n".join(stack), LINE_LIMIT)
    return fields


def _logfmt_value(value: Field) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text and not _LOGFMT_NEEDS_QUOTES.search(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def format_logfmt(fields: dict[str, Field]) -> str:
    return " ".join(f"{key}={_logfmt_value(value)}" for key, value in fields.items())


def format_json(fields: dict[str, Field]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))


class LineFormatter(logging.Formatter):
    """Formats a record as one logfmt or JSON line, secrets redacted."""

    def __init__(self, fmt: LogFormat) -> None:
        super().__init__()
        self._render = format_json if fmt is LogFormat.JSON else format_logfmt

    def format(self, record: logging.LogRecord) -> str:
        # Values were redacted before escaping; the whole line is checked again for the rest.
        return redact(fit(record_fields(record), self._render))


def fit(fields: dict[str, Field], render: Callable[[dict[str, Field]], str]) -> str:
    """`fields` rendered; while the line is longer than LINE_LIMIT, its longest value is cut
    further (each value is VALUE_LIMIT characters at most, but escaping can grow it 6-fold:
    `\\u0001`)."""
    line = render(fields)
    while len(line) > LINE_LIMIT:
        values = {k: v for k, v in fields.items() if isinstance(v, str) and _head(v)}
        if not values:
            break
        key = max(values, key=lambda k: len(values[k]))
        value = values[key]
        marked = _CUT_MARK.search(value)
        total = int(marked[1]) if marked else len(value)
        head = _head(value)
        keep = max(0, len(head) - (len(line) - LINE_LIMIT) - len(CUT_MARK.format(total)))
        fields[key] = head[:keep] + CUT_MARK.format(total)
        line = render(fields)
    return line


def _head(value: str) -> str:
    """A value without its cut marker."""
    marked = _CUT_MARK.search(value)
    return value[: marked.start()] if marked else value


@dataclass(slots=True)
class _Window:
    """One cause's rate-limit window: when it ends, lines passed and lines suppressed."""

    ends: float
    passed: int
    suppressed: int
    logger: str
    level: int
    like: str
    account_id: str | None


_Cause = tuple[str, str, str | None]  # logger, message (unformatted), account_id


class RateLimit:
    """Warnings and errors: `burst` lines per `window` seconds of one cause (logger, message
    and account_id), the rest counted; the count is reported in one line (SUPPRESSED) by the
    first record handled after the window ended. Lower levels pass untouched."""

    def __init__(
        self,
        window: float = RATE_WINDOW,
        burst: int = RATE_BURST,
        keys: int = RATE_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window = window
        self._burst = burst
        self._keys = keys
        self._clock = clock
        self._lock = threading.Lock()
        # Opened in time order, all as long: the first to end is the first in the dict.
        self._windows: OrderedDict[_Cause, _Window] = OrderedDict()

    def admit(self, record: logging.LogRecord) -> tuple[bool, list[logging.LogRecord]]:
        """Whether to write `record`, and the summaries of windows that ended before it."""
        if record.levelno < logging.WARNING:
            if not self._windows:
                return True, []
            with self._lock:
                return True, self._ended(self._clock())
        account = getattr(record, "account_id", None)
        cause = (
            record.name,
            str(record.msg)[:VALUE_LIMIT],
            None if account is None else str(account)[:VALUE_LIMIT],
        )
        with self._lock:
            now = self._clock()
            summaries = self._ended(now)
            window = self._windows.get(cause)
            if window is None:
                if len(self._windows) < self._keys:
                    self._windows[cause] = _Window(
                        now + self._window, 1, 0, record.name, record.levelno, *cause[1:]
                    )
                return True, summaries
            if window.passed < self._burst:
                window.passed += 1
                return True, summaries
            window.suppressed += 1
            return False, summaries

    def _ended(self, now: float) -> list[logging.LogRecord]:
        summaries: list[logging.LogRecord] = []
        windows = self._windows
        while windows:
            cause, window = next(iter(windows.items()))
            if window.ends > now:
                break
            del windows[cause]
            if window.suppressed:
                summaries.append(self._summary(window))
        return summaries

    def _summary(self, window: _Window) -> logging.LogRecord:
        record = logging.LogRecord(window.logger, window.level, "", 0, SUPPRESSED, None, None)
        record.like = window.like
        if window.account_id is not None:
            record.account_id = window.account_id
        record.suppressed = window.suppressed
        record.seconds = self._window
        return record


class _LineHandler(logging.StreamHandler[TextIO]):
    """Ours, so configure_logging can replace it and leave other handlers alone."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._rate_limit = RateLimit()

    def handle(self, record: logging.LogRecord) -> bool:
        if not self.filter(record):
            return False
        admitted, summaries = self._rate_limit.admit(record)
        for summary in summaries:
            self._write(summary)
        if admitted:
            self._write(record)
        return admitted

    def _write(self, record: logging.LogRecord) -> None:
        # Format before taking the lock and hold it only for the write: when a thousand
        # streams drop at once they all log, and must not queue behind each other's formatting.
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 (logging must never raise into the caller)
            self.handleError(record)
            return
        self.acquire()
        try:
            self.stream.write(line)
            self.flush()
        except Exception:  # noqa: BLE001
            self.handleError(record)
        finally:
            self.release()


def configure_logging(level: str, fmt: LogFormat, stream: TextIO | None = None) -> None:
    """Send every record to `stream` (stderr by default) as one line; safe to call again."""
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LineHandler)]:
        root.removeHandler(handler)
    handler = _LineHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(LineFormatter(fmt))
    root.addHandler(handler)
    root.setLevel(numeric_level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, numeric_level))
