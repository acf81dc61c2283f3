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

_RFC3339 = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})[Tt ]"
    r"(?P<hour>\d{2}):(?P<minute>\d{2}):(?P<second>\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?"
    r"(?P<offset>[Zz]|[+-]\d{2}:\d{2})$"
)


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
    fraction = match.group("fraction") or ""
    nanosecond = int(fraction.ljust(9, "0")) if fraction else 0
    offset = match.group("offset")
    if offset in ("Z", "z"):
        tzinfo = timezone.utc
    else:
        sign = 1 if offset[0] == "+" else -1
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        tzinfo = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return Timestamp(
        int(match.group("year")),
        int(match.group("month")),
        int(match.group("day")),
        int(match.group("hour")),
        int(match.group("minute")),
        int(match.group("second")),
        nanosecond // 1000,
        tzinfo=tzinfo,
        nanosecond=nanosecond,
    )


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
