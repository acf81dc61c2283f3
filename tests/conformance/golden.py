"""Read the captures of a real LXD 5.0.2 server kept in tests/golden/ (see its README)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Capture:
    name: str
    method: str
    path: str
    status: int
    body: str
    header: str

    @property
    def body_bytes(self) -> bytes:
        return (GOLDEN / f"{self.name}.json").read_bytes()

    @property
    def headers(self) -> dict:
        lines = (GOLDEN / f"{self.name}.headers").read_text().splitlines()[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if ":" in line)}

    @property
    def date(self) -> float:
        """When the capture was taken (the Date header), as a Unix time."""
        from email.utils import parsedate_to_datetime

        return parsedate_to_datetime(self.headers["date"]).timestamp()

    @property
    def extra_headers(self) -> dict:
        if not self.header:
            return {}
        name, _, value = self.header.strip("[]").partition(":")
        return {name.strip(): value.strip()}


def captures() -> list[Capture]:
    rows = []
    for line in (GOLDEN / "INDEX.tsv").read_text().splitlines():
        fields = line.split("\t") + [""] * 6
        rows.append(Capture(fields[0], fields[1], fields[2], int(fields[3]), fields[4], fields[5]))
    return rows


def normalize(value):
    """Replace what differs between any two servers (ids, times, secrets) by placeholders."""
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    if isinstance(value, str):
        value = UUID.sub("<uuid>", value)
        value = TIMESTAMP.sub("<time>", value)
        return "<hex64>" if HEX64.match(value) else value
    return value


def shape(value):
    """Keys (in order) and JSON types, without values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"))
