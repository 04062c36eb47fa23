"""One logfmt or JSON line per log record, with every registered secret redacted."""

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
from typing import TextIO

from exporter.config import LogFormat

REDACTED = "<redacted>"
MIN_SECRET_LENGTH = 4
_QUIET_LOGGERS = ("urllib3", "websocket", "websockets")
# Everything a LogRecord carries by itself; any other attribute came from `extra=`.
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_LOGFMT_NEEDS_QUOTES = re.compile(r'[\s="\\\x00-\x1f\x7f]')
_KEY_INVALID = re.compile(r"[^\w.\-]")


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

    def redact(self, text: str) -> str:
        by_prefix = self._by_prefix
        if not by_prefix:
            return text
        pieces: list[str] = []
        start = position = 0
        last_start = len(text) - MIN_SECRET_LENGTH
        while position <= last_start:
            bucket = by_prefix.get(text[position : position + MIN_SECRET_LENGTH])
            secret = bucket and next((s for s in bucket if text.startswith(s, position)), None)
            if secret:
                pieces += (text[start:position], REDACTED)
                position = start = position + len(secret)
            else:
                position += 1
        if not pieces:
            return text
        pieces.append(text[start:])
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


def _field_value(value: object) -> Field:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return _rounded(value)
    return redact(str(value))


def _add(fields: dict[str, Field], key: str, value: object) -> None:
    """Add a field; a key already taken gets a trailing underscore rather than losing a value."""
    key = _KEY_INVALID.sub("_", key) or "_"
    while key in fields:
        key += "_"
    fields[key] = _field_value(value)


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
        _add(fields, "stack", "\n".join(stack))
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
        return redact(self._render(record_fields(record)))


class _LineHandler(logging.StreamHandler[TextIO]):
    """Ours, so configure_logging can replace it and leave other handlers alone."""

    def handle(self, record: logging.LogRecord) -> bool:
        # Format before taking the lock and hold it only for the write: when a thousand
        # streams drop at once they all log, and must not queue behind each other's formatting.
        if not self.filter(record):
            return False
        try:
            line = self.format(record) + self.terminator
        except Exception:  # noqa: BLE001 (logging must never raise into the caller)
            self.handleError(record)
            return True
        self.acquire()
        try:
            self.stream.write(line)
            self.flush()
        except Exception:  # noqa: BLE001
            self.handleError(record)
        finally:
            self.release()
        return True


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
