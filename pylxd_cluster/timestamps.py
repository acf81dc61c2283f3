"""RFC 3339 timestamps as LXD writes them (Go's ``time.RFC3339Nano``).

Go writes up to nine fractional digits and trims trailing zeros
(``2026-11-22T02:45:14.2923957Z``). :func:`datetime.fromisoformat` cannot read
nine digits, and a :class:`datetime` only keeps microseconds, which would change
a join token when it is re-encoded. :class:`Timestamp` is a ``datetime`` that
also remembers the nanoseconds, so parsing then formatting gives the same text.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["Timestamp", "parse_timestamp", "format_timestamp"]

# Groups by position (faster to take than by name): year, month, day, hour, minute, second,
# fraction (up to nine digits, or None), offset.
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)
#: ``"+02:00"`` -> its tzinfo, made once (LXD's servers write few offsets: mostly ``Z``).
_OFFSETS: dict[str, timezone] = {"Z": timezone.utc, "z": timezone.utc}
_DATETIME_NEW = datetime.__new__
_PADDING = ("000000000", "00000000", "0000000", "000000", "00000", "0000", "000", "00", "0", "")


def _offset(text: str) -> timezone:
    tzinfo = _OFFSETS.get(text)
    if tzinfo is None:
        sign = 1 if text[0] == "+" else -1
        hours, minutes = int(text[1:3]), int(text[4:6])
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
        if len(_OFFSETS) < 256:   # bounded: a hostile server cannot grow it without end
            _OFFSETS[text] = tzinfo
    return tzinfo


class Timestamp(datetime):
    """A timezone-aware :class:`datetime` with nanosecond precision.

    ``nanosecond`` is the full fraction of the second in nanoseconds
    (0..999 999 999); ``microsecond`` is that value truncated, as datetime needs.
    Arithmetic returns plain datetimes; comparisons use microseconds.
    """

    __slots__ = ("_nanosecond",)

    def __new__(cls, *args, nanosecond: int | None = None, **kwargs):
        self = super().__new__(cls, *args, **kwargs)
        if nanosecond is None:
            nanosecond = self.microsecond * 1000
        elif nanosecond // 1000 != self.microsecond:
            raise ValueError("nanosecond does not agree with microsecond")
        self._nanosecond = nanosecond
        return self

    @property
    def nanosecond(self) -> int:
        return self._nanosecond

    def __reduce_ex__(self, protocol):
        # datetime pickles (and deep-copies) through its C state, which would drop
        # the nanoseconds.
        return (parse_timestamp, (format_timestamp(self),))

    def isoformat_nano(self) -> str:
        """The RFC3339Nano text (same as :func:`format_timestamp`)."""
        return format_timestamp(self)


def parse_timestamp(text: str | None) -> Timestamp | None:
    """Parse an RFC 3339 timestamp with up to nine fractional digits.

    Returns None for None or an empty string.

    Raises:
        ValueError: ``text`` is not an RFC 3339 timestamp.
    """
    if text is None or text == "":
        return None
    if isinstance(text, Timestamp):
        return text
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    nanosecond = int(fraction + _PADDING[len(fraction)]) if fraction else 0
    # datetime's own constructor (C), not Timestamp's (Python, keyword arguments), then the
    # nanoseconds: the same value Timestamp(..., nanosecond=) makes, a few times faster.
    stamp = _DATETIME_NEW(Timestamp, int(year), int(month), int(day), int(hour), int(minute), int(second),
                          nanosecond // 1000, _offset(offset))
    stamp._nanosecond = nanosecond
    return stamp


def format_timestamp(value: datetime | None) -> str:
    """Format a datetime the way Go's RFC3339Nano does (trailing zeros trimmed, UTC as ``Z``).

    A naive datetime is taken to be UTC. None gives LXD's zero time.
    """
    if value is None:
        return "0001-01-01T00:00:00Z"
    nanosecond = value.nanosecond if isinstance(value, Timestamp) else value.microsecond * 1000
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    # strftime pads years < 1000 inconsistently across platforms.
    text = f"{value.year:04d}{text[text.index('-'):]}"
    if nanosecond:
        text += "." + f"{nanosecond:09d}".rstrip("0")
    offset = value.utcoffset()
    if offset is None or offset == timedelta(0):
        return text + "Z"
    sign = "+" if offset >= timedelta(0) else "-"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"
