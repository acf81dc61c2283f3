"""LXD's wire format: Go-compatible JSON, the response envelope, ETags and timestamps.

LXD is written in Go, and clients (and our golden captures) see the exact bytes Go's
``json.Encoder`` writes: compact, HTML characters escaped, one trailing newline.
Matching those bytes keeps ETags identical to a real server's.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from urllib.parse import quote

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
# A UTF-16 surrogate on its own: UTF-8 cannot carry it (Go writes U+FFFD instead).
SURROGATE = re.compile("[\ud800-\udfff]")
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def go_json(obj) -> bytes:
    """Encode ``obj`` as Go's json.Encoder does (compact, HTML-escaped, trailing newline).

    A string holding bytes that are not UTF-8 (a header aiohttp decoded with surrogateescape)
    gets ``\\ufffd`` in their place, as Go writes for invalid UTF-8: never an exception.
    """
    text = _JSON.encode(obj)
    if any(ch in text for ch in _HTML_ESCAPES):
        for raw, escaped in _HTML_ESCAPES.items():
            text = text.replace(raw, escaped)
    try:
        return (text + "\n").encode()
    except UnicodeEncodeError:
        return (SURROGATE.sub(r"\\ufffd", text) + "\n").encode()


def lxd_url(*parts: str) -> str:
    """A path as LXD builds one (``api.NewURL().Path(...).String()``): each part escaped
    with Go's url.PathEscape, then the joined path escaped again, so that ``n\\nl`` is
    ``n%250Al``. LXD's lists, ``Location`` headers and event sources all say it so; the
    object answers at its name escaped once (``n%0Al``)."""
    return "".join("/" + quote(part, safe="$&+:=@").replace("%", "%25") for part in parts)


def etag_of(obj) -> str:
    """The ETag LXD computes: sha256 of the Go JSON encoding of ``obj``."""
    return hashlib.sha256(go_json(obj)).hexdigest()


def sorted_map(mapping) -> dict:
    """Go encodes map keys in sorted order; structs keep declaration order."""
    if mapping is None:
        return None
    return {key: mapping[key] for key in sorted(mapping)}


def go_timestamp(moment: _dt.datetime) -> str:
    """RFC 3339 with nanoseconds and trailing zeros trimmed, as Go's time.RFC3339Nano."""
    moment = moment.astimezone(_dt.timezone.utc)
    base = moment.strftime("%Y-%m-%dT%H:%M:%S")
    # Python keeps microseconds; pad to nanoseconds and trim as Go does.
    fraction = f"{moment.microsecond:06d}000".rstrip("0")
    return f"{base}.{fraction}Z" if fraction else f"{base}Z"


def now_utc() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def go_duration(seconds: float) -> str:
    """Format a duration as Go's time.Duration.String (e.g. ``1m2.5s``), to the millisecond."""
    millis = int(round(seconds * 1000))
    if millis == 0:
        return "0s"
    sign = "-" if millis < 0 else ""
    millis = abs(millis)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    if millis < 1000:
        return f"{sign}{millis}ms"
    return f"{sign}{secs}s"


@dataclass
class Reply:
    """A framework-neutral HTTP reply: status, headers and the exact body bytes."""

    status: int
    body: bytes
    headers: dict = field(default_factory=dict)

    @property
    def envelope(self) -> dict:
        return json.loads(self.body)


JSON_HEADERS = {"Content-Type": "application/json"}


def sync_reply(metadata, *, status: int = 200, etag: str | None = None, location: str | None = None) -> Reply:
    """A sync envelope. ``status`` 201 is used (with ``location``) for creations."""
    envelope = {
        "type": "sync",
        "status": "Success",
        "status_code": 200,
        "operation": "",
        "error_code": 0,
        "error": "",
        "metadata": metadata,
    }
    headers = dict(JSON_HEADERS)
    if etag is not None:
        headers["Etag"] = f'"{etag}"'
    if location is not None:
        headers["Location"] = location
    return Reply(status, go_json(envelope), headers)


def async_reply(operation: dict) -> Reply:
    """The 202 envelope that announces a background operation."""
    url = f"/1.0/operations/{operation['id']}"
    envelope = {
        "type": "async",
        "status": "Operation created",
        "status_code": 100,
        "operation": url,
        "error_code": 0,
        "error": "",
        "metadata": operation,
    }
    return Reply(202, go_json(envelope), {**JSON_HEADERS, "Location": url})


def error_reply(code: int, message: str, http_status: int | None = None) -> Reply:
    """An error envelope; LXD's error bodies end with two newlines and send nosniff.
    ``http_status``: the HTTP status when it is not ``code`` (Incus answers some errors with
    HTTP 200)."""
    envelope = {
        "type": "error",
        "status": "",
        "status_code": 0,
        "operation": "",
        "error_code": code,
        "error": message,
        "metadata": None,
    }
    headers = {**JSON_HEADERS, "X-Content-Type-Options": "nosniff"}
    return Reply(http_status or code, go_json(envelope) + b"\n", headers)


def go_time_string(moment: _dt.datetime) -> str:
    """Go's time.Time.String(): ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    moment = moment.astimezone(_dt.timezone.utc)
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    base = moment.strftime("%Y-%m-%d %H:%M:%S")
    return f"{base}.{fraction} +0000 UTC" if fraction else f"{base} +0000 UTC"
