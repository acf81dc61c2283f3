"""The engine of the live differential suite: send one request sequence
(tests/live/sequence.py) to a real server and to the mock, normalise what must differ
between any two servers, and compare the rest.

A run (:func:`run_sequence`) talks to one unix socket: the real cluster's node1, or a
fresh ``MockCluster``'s. Each reply becomes a *record* (:func:`Normaliser.record`), a
JSON-able dict that is also what ``tests/golden/live/<profile>/<step>.json`` holds:

- ``status``: the HTTP status;
- ``headers``: Content-Type, Location, X-Content-Type-Options (``null`` when absent) and
  the ETag, normalised (below);
- ``body``: the envelope, normalised, its objects' keys in the order the server sent them
  (Python dicts keep it; duplicate keys are reported, not merged);
- ``framing``: how the body ends (LXD's success bodies end with one newline, its errors
  with two).

What is normalised, on both sides alike (:class:`Normaliser`):

- operation ids (any UUID): ``OP(<step>)``, named after the step whose reply showed the
  operation first (``OP(evacuate_node2)``), so that an operation one side did not start
  does not renumber the others;
- times (RFC 3339): ``<time>``; Go's zero time is kept;
- PEM certificates: ``<certificate>``; 64-hex fingerprints and secrets: ``<fingerprint>``,
  ``<secret>``, ``<hex64>``;
- the members' addresses: ``https://H:P`` and ``H:P`` of member N become ``ADDRESS_nodeN``
  (learned from ``GET /1.0/cluster/members?recursion=1`` before the run);
- ``server_pid``, ``kernel_version``: ``<pid>``, ``<kernel>``; the numbers of a member's
  ``sysinfo`` (uptime, memory, load): ``<number>``;
- the operations lists: only the operations the run has seen (a real server lists its
  own background tasks too), sorted (a Go map: no order);
- the mock's own API extension (``pack_configuration``), appended to ``api_extensions``:
  removed from the end of that list, and only there (``strip_extension``).

ETags are content hashes, so they cannot be compared as they are. The engine finds which
content the server hashed (:data:`ETAG_RECIPES`: the whole metadata, its ``config``, a
member's or group's writable fields, a project's description and config) by recomputing
the hash of the raw reply, and records ``<recipe>:<sha256 of the normalised content>``.
Two records' ETags are then compared as strings, when their normalised bodies are
identical; otherwise only the recipe is compared and the rest is noted.

A reply of another kind (an error for a success) is one difference, ``body``, showing both
envelopes without their empty fields; it stands for the headers and framing that an error
envelope always differs in.

:func:`compare` turns two records into :class:`Difference` objects named by step and
JSON path (``body.metadata.environment.os_name``, ``headers.etag``, ``status``, a
``<keys>`` path for field order); the test module's table of known differences decides
which of them are expected.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import websocket

from pylxd_cluster.events import close_websocket
from tests.conformance.golden import HEX64, UUID
from tests.live.sequence import REFERENCE, Step
from tests.support.realservers import UnixHTTPConnection

__all__ = ["Reply", "send", "Normaliser", "Difference", "Known", "StepOutcome", "Run", "run_sequence",
           "compare", "compare_runs", "compare_events", "EventCollector", "etag_recipe"]

REQUEST_TIMEOUT = 90.0
SELECTED_HEADERS = ("content-type", "location", "x-content-type-options")

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)")
ZERO_TIME = "0001-01-01T00:00:00Z"
PEM = re.compile(r"-----BEGIN ([A-Z ]+)-----\n[A-Za-z0-9+/=\n]+-----END \1-----\n?")
ADDRESS = re.compile(r"(?:https://)?(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):(\d{1,5})")
PLACEHOLDER_KEYS = {"server_pid": "<pid>", "kernel_version": "<kernel>"}
SECRET_KEYS = {"secret": "<secret>", "fingerprint": "<fingerprint>", "certificate_fingerprint": "<fingerprint>"}


# ---- one request over a unix socket ------------------------------------------------------------

class DuplicateKeys(dict):
    """A JSON object whose text named a key twice (``duplicates`` lists them)."""

    duplicates: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict:
    keys = [key for key, _ in pairs]
    if len(set(keys)) == len(keys):
        return dict(pairs)
    obj = DuplicateKeys(pairs)
    obj.duplicates = sorted({key for key in keys if keys.count(key) > 1})
    return obj


def parse_json(raw: bytes) -> Any:
    """JSON with every object's keys in the order sent (and duplicates noticed)."""
    return json.loads(raw, object_pairs_hook=_object)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]          # names lower-cased
    raw: bytes
    body: Any                        # parsed JSON, or the text if it is not JSON
    seconds: float = 0.0

    @property
    def is_json(self) -> bool:
        return not isinstance(self.body, str)


def send(socket_path: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = REQUEST_TIMEOUT) -> Reply:
    """One HTTP/1.1 request to the API on ``socket_path``. ``body``: JSON data, ``bytes``
    sent as they are, or None for none."""

    started = time.monotonic()
    conn = UnixHTTPConnection(socket_path, timeout)
    try:
        data = body if body is None or isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        sent = dict(headers or {})
        if data is not None:
            sent.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=sent)
        response = conn.getresponse()
        raw = response.read()
        reply_headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        conn.close()
    try:
        parsed: Any = parse_json(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return Reply(response.status, reply_headers, raw, parsed, time.monotonic() - started)


# ---- ETags --------------------------------------------------------------------------------------

def go_json(value: Any) -> bytes:
    """What Go's json.Encoder writes for ``value`` as parsed from a Go server's reply: its
    objects' keys in the order received (struct fields in declaration order, map keys
    already sorted by Go), compact, HTML characters escaped, a trailing newline."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return (text + "\n").encode()


def _fields(*names: str):
    return lambda meta: {name: meta[name] for name in names} if all(n in meta for n in names) else None


#: What LXD and Incus hash for an ETag, by resource (``util.EtagHash`` of ``SyncResponseETag``'s
#: argument): tried in order on the raw reply's metadata.
ETAG_RECIPES: dict[str, Any] = {
    "metadata": lambda meta: meta,
    "config": lambda meta: meta.get("config") if "config" in meta and "api_extensions" in meta else None,
    "member": _fields("roles", "failure_domain", "description", "config", "groups"),
    "group": _fields("description", "members"),
    "project": lambda meta: [meta["description"], meta["config"]] if {"description", "config"} <= set(meta) else None,
}


def etag_recipe(etag: str | None, metadata: Any) -> str | None:
    """The name of the recipe that gives ``etag`` from ``metadata`` (the raw reply's), or
    None if none does."""
    if not etag or not isinstance(metadata, dict):
        return None
    value = etag.strip('"')
    for name, recipe in ETAG_RECIPES.items():
        content = recipe(metadata)
        if content is not None and hashlib.sha256(go_json(content)).hexdigest() == value:
            return name
    return None


# ---- normalising ----------------------------------------------------------------------------------

class Normaliser:
    """Replaces, in one run's replies, what differs between any two servers (module
    docstring). One per run: it remembers the operations the run has seen, and their names."""

    def __init__(self, addresses: dict[str, str], strip_extension: str | None = None):
        #: the API extension the server appends of its own (the mock's ``pack_configuration``):
        #: removed from the end of ``GET /1.0``'s ``api_extensions``
        self.strip_extension = strip_extension
        #: operations in operation lists that the run did not start (the server's own
        #: background tasks, what came before the run): left out of the record, counted here
        self.foreign_operations = 0
        #: "host:port" -> "ADDRESS_<member>", from the members' URLs
        self.addresses = {}
        for member, url in addresses.items():
            m = ADDRESS.fullmatch(url)
            if m:
                self.addresses[f"{m.group(1)}:{m.group(2)}"] = f"ADDRESS_{member}"
        self.operations: dict[str, str] = {}
        #: the step whose reply is being normalised (names the operations it shows first)
        self.origin: str | None = None

    def operation(self, uuid: str) -> str:
        """``OP(<step>)``: the operation first named in the reply to that step (``#2``...
        for a second one there). Named by step rather than numbered, an operation one side
        did not start does not renumber every later one."""
        if uuid not in self.operations:
            name = f"OP({self.origin or 'elsewhere'})"
            taken = sum(1 for other in self.operations.values() if other.split("#")[0] == name)
            self.operations[uuid] = name if not taken else f"{name}#{taken + 1}"
        return self.operations[uuid]

    def string(self, text: str) -> str:
        if PEM.search(text):
            text = PEM.sub("<certificate>", text)
        text = UUID.sub(lambda m: self.operation(m.group(0)), text)
        text = TIMESTAMP.sub(lambda m: m.group(0) if m.group(0) == ZERO_TIME else "<time>", text)
        text = ADDRESS.sub(lambda m: self.addresses.get(f"{m.group(1)}:{m.group(2)}", m.group(0)), text)
        return "<hex64>" if HEX64.fullmatch(text) else text

    def value(self, value: Any, key: str | None = None, within: tuple[str, ...] = ()) -> Any:
        if isinstance(value, dict):
            out = {k: self.value(v, k, (*within, k)) for k, v in value.items()}
            if isinstance(value, DuplicateKeys):
                out["<duplicate keys>"] = value.duplicates
            return out
        if isinstance(value, list):
            return [self.value(item, key, within) for item in value]
        if key in PLACEHOLDER_KEYS and value not in ("", None, 0):
            return PLACEHOLDER_KEYS[key]
        if "sysinfo" in within and isinstance(value, (int, float)) and not isinstance(value, bool):
            return "<number>"   # Go writes a whole load average (2.0) as 2: int or float is chance
        if isinstance(value, str):
            if key in SECRET_KEYS and HEX64.fullmatch(value):
                return SECRET_KEYS[key]
            return self.string(value)
        return value

    def own_operations(self, metadata: Any) -> Any:
        """An operations list (``{status: [url or operation]}``) without the operations
        this run has not seen before: a real server lists its own background tasks (image
        updates, clean-ups) and what it finished in the last seconds before the run."""
        if not isinstance(metadata, dict):
            return metadata
        kept = {}
        for status, entries in metadata.items():
            if not isinstance(entries, list):
                kept[status] = entries
                continue
            own = []
            for entry in entries:
                text = entry.get("id", "") if isinstance(entry, dict) else str(entry)
                m = UUID.search(text)
                if m and m.group(0) not in self.operations:
                    self.foreign_operations += 1
                else:
                    own.append(entry)
            if own:
                kept[status] = own
        return kept

    def without_own_extension(self, body: dict) -> dict:
        meta = body.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("api_extensions"), list) \
                and meta["api_extensions"][-1:] == [self.strip_extension]:
            meta = {**meta, "api_extensions": meta["api_extensions"][:-1]}
            return {**body, "metadata": meta}
        return body

    def record(self, step: Step, reply: Reply | None, skipped: str = "") -> dict:
        """The normalised record of ``step``'s ``reply`` (see the module docstring)."""
        request: dict[str, Any] = {"method": step.method, "path": step.path}
        if step.body is not None:
            request["body"] = step.body.decode("utf-8", "replace") if isinstance(step.body, bytes) else step.body
        if step.headers:
            request["headers"] = step.headers
        if reply is None:
            return {"step": step.name, "request": request, "skipped": skipped}
        self.origin = step.name
        headers = {name: (self.string(reply.headers[name]) if name in reply.headers else None)
                   for name in SELECTED_HEADERS}
        raw_body = reply.body
        if step.unordered and reply.is_json and isinstance(raw_body, dict):
            raw_body = {**raw_body, "metadata": self.own_operations(raw_body.get("metadata"))}
        if self.strip_extension and reply.is_json and isinstance(raw_body, dict) \
                and step.method == "GET" and step.path == "/1.0":
            raw_body = self.without_own_extension(raw_body)
        body = self.value(raw_body) if reply.is_json else self.string(raw_body)
        if step.unordered:
            body = _sorted_lists(body)
        headers["etag"] = self.etag(reply)
        stripped = reply.raw.rstrip(b"\n")
        self.origin = None
        return {"step": step.name, "request": request, "status": reply.status, "headers": headers,
                "body": body, "framing": {"trailing_newlines": len(reply.raw) - len(stripped),
                                          "json": reply.is_json}}

    def etag(self, reply: Reply) -> str | None:
        etag = reply.headers.get("etag")
        if etag is None:
            return None
        meta = reply.body.get("metadata") if reply.is_json and isinstance(reply.body, dict) else None
        recipe = etag_recipe(etag, meta)
        if recipe is None:
            return "unexplained"
        content = self.value(ETAG_RECIPES[recipe](meta))
        return f"{recipe}:{hashlib.sha256(go_json(content)).hexdigest()}"


def _sorted_lists(value: Any) -> Any:
    """``value`` with every list sorted (by its JSON text): for lists that have no order."""
    if isinstance(value, dict):
        return {k: _sorted_lists(v) for k, v in value.items()}
    if isinstance(value, list):
        items = [_sorted_lists(v) for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    return value


# ---- events -----------------------------------------------------------------------------------------

class EventCollector:
    """The lifecycle events of ``/1.0/events?type=lifecycle`` on a unix socket, collected
    by a thread (which also answers the server's pings), each tagged with the step that
    was current when it arrived."""

    def __init__(self, socket_path: str, timeout: float = 10.0):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(socket_path)
        self._ws = websocket.WebSocket()
        self._ws.connect("ws://lxd/1.0/events?type=lifecycle", socket=sock, timeout=timeout)
        self._ws.settimeout(None)
        self.events: list[tuple[str, dict]] = []
        self.step = "(before the first step)"
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._read, name="differential-events", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                opcode, data = self._ws.recv_data()
                if opcode == websocket.ABNF.OPCODE_CLOSE:
                    break
                try:
                    event = parse_json(data)
                except ValueError:
                    event = {"unparsable": data.decode("utf-8", "replace")}
                with self._cond:
                    self.events.append((self.step, event))
                    self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by wait_for / close
            if not self._closed:
                self.error = exc
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def wait_for(self, predicate, timeout: float) -> bool:
        """Wait until an event collected satisfies ``predicate(step, event)``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(predicate(step, event) for step, event in self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self) -> None:
        self._closed = True
        close_websocket(self._ws)
        self._thread.join(timeout=5)


def event_record(normaliser: Normaliser, step: str, event: dict) -> dict:
    """What is compared of one lifecycle event: action, source, context keys, location
    (normalised), and which step was running when it arrived (not compared: delivery is
    asynchronous)."""
    meta = event.get("metadata") or {}
    context = meta.get("context")
    return {"type": event.get("type"), "action": meta.get("action"),
            "source": normaliser.string(meta.get("source") or ""),
            "context_keys": list(context) if isinstance(context, dict) else context,
            "location": normaliser.string(event.get("location") or ""),
            "arrived_during": step}


# ---- a run -------------------------------------------------------------------------------------------

@dataclass
class StepOutcome:
    step: Step
    reply: Reply | None
    record: dict


@dataclass
class Run:
    """One run of the sequence against one server."""

    label: str
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    events: list[dict] | None = None
    events_problem: str = ""
    seconds: float = 0.0
    normaliser: Normaliser | None = None

    @property
    def records(self) -> dict[str, dict]:
        return {name: outcome.record for name, outcome in self.outcomes.items()}


class Unresolved(LookupError):
    pass


def _operation_id(reply: Reply | None) -> str | None:
    if reply is None or not isinstance(reply.body, dict):
        return None
    for candidate in (reply.body.get("operation"), reply.headers.get("location")):
        if isinstance(candidate, str):
            m = UUID.search(candidate)
            if m and candidate.startswith("/1.0/operations/"):
                return m.group(0)
    return None


def resolve(text: str, outcomes: dict[str, StepOutcome]) -> str:
    """``text`` with its ``{op:STEP}`` / ``{etag:STEP}`` filled in from this run's replies.

    Raises:
        Unresolved: the step named gave no operation or ETag on this side.
    """
    def fill(m: re.Match) -> str:
        kind, name = m.groups()
        outcome = outcomes.get(name)
        reply = outcome.reply if outcome else None
        value = _operation_id(reply) if kind == "op" else (reply.headers.get("etag") if reply else None)
        if value is None:
            raise Unresolved(f"step {name} gave no {'operation' if kind == 'op' else 'ETag'}")
        return value
    return REFERENCE.sub(fill, text)


def member_addresses(socket_path: str) -> dict[str, str]:
    """{member: url} as ``GET /1.0/cluster/members?recursion=1`` on ``socket_path`` says."""
    reply = send(socket_path, "GET", "/1.0/cluster/members?recursion=1")
    if reply.status != 200 or not isinstance(reply.body, dict):
        raise AssertionError(f"cannot list the members on {socket_path}: {reply.status} {reply.raw[:300]!r}")
    return {m["server_name"]: m["url"] for m in reply.body["metadata"]}


def run_sequence(label: str, socket_path: str, steps: Iterable[Step], *,
                 sentinel: tuple[str, str, str] | None = None, event_timeout: float = 10.0,
                 strip_extension: str | None = None) -> Run:
    """Send ``steps`` in order to ``socket_path``, collecting the replies' records and,
    given a ``sentinel`` (step, action, source), the lifecycle events until the sentinel's
    event arrived. ``strip_extension``: see :class:`Normaliser`."""
    steps = list(steps)
    started = time.monotonic()
    run = Run(label)
    members = member_addresses(socket_path)
    run.normaliser = normaliser = Normaliser(members, strip_extension)
    collector = None
    if sentinel is not None:
        try:
            collector = EventCollector(socket_path)
        except Exception as exc:  # noqa: BLE001 - reported, the requests still compared
            run.events_problem = f"could not open /1.0/events: {exc!r}"
    try:
        for step in steps:
            if collector is not None:
                collector.step = step.name
            try:
                path = resolve(step.path, run.outcomes)
                headers = {name: resolve(value, run.outcomes) for name, value in step.headers.items()}
            except Unresolved as exc:
                run.outcomes[step.name] = StepOutcome(step, None, normaliser.record(step, None, str(exc)))
                continue
            reply = send(socket_path, step.method, path, step.body, headers)
            run.outcomes[step.name] = StepOutcome(step, reply, normaliser.record(step, reply))
        if collector is not None:
            last, action, source = sentinel

            def arrived(step: str, event: dict) -> bool:
                meta = event.get("metadata") or {}
                return step == last and meta.get("action") == action and meta.get("source") == source

            if not collector.wait_for(arrived, event_timeout):
                run.events_problem = (f"the event of the last step ({action} {source} after {last}) did not arrive "
                                      f"within {event_timeout}s{f': {collector.error!r}' if collector.error else ''}")
    finally:
        if collector is not None:
            collector.close()
    if collector is not None:
        run.events = [event_record(normaliser, step, event) for step, event in collector.events]
    run.seconds = time.monotonic() - started
    return run


# ---- comparing --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Known:
    """A known, justified difference between the mock and a server: every difference of a
    step matching ``step`` (a glob) at a path matching ``path`` (a glob), for the profiles
    in ``profiles`` ("*": all)."""

    step: str
    path: str
    why: str
    profiles: tuple[str, ...] = ("*",)

    def covers(self, profile: str, difference: Difference) -> bool:
        return (("*" in self.profiles or profile in self.profiles)
                and fnmatch.fnmatchcase(difference.step, self.step)
                and fnmatch.fnmatchcase(difference.path, self.path))


@dataclass
class Difference:
    step: str
    path: str
    reference: Any
    candidate: Any
    note: str = ""

    def describe(self, reference: str = "live", candidate: str = "mock") -> str:
        text = (f"{self.step}: {self.path}: {reference} {_show(self.reference)}, "
                f"{candidate} {_show(self.candidate)}")
        return f"{text} ({self.note})" if self.note else text


ABSENT = "<absent>"


def _show(value: Any, limit: int = 400) -> str:
    text = value if value == ABSENT else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _diff_values(step: str, path: str, ref: Any, cand: Any, out: list[Difference]) -> None:
    if isinstance(ref, dict) and isinstance(cand, dict):
        ref_keys, cand_keys = list(ref), list(cand)
        for key in ref_keys:
            sub = f"{path}.{key}"
            if key in cand:
                _diff_values(step, sub, ref[key], cand[key], out)
            else:
                out.append(Difference(step, sub, ref[key], ABSENT))
        for key in cand_keys:
            if key not in ref:
                out.append(Difference(step, f"{path}.{key}", ABSENT, cand[key]))
        common_ref = [k for k in ref_keys if k in cand]
        common_cand = [k for k in cand_keys if k in ref]
        if common_ref != common_cand:
            out.append(Difference(step, f"{path}.<keys>", ref_keys, cand_keys, "field order"))
        return
    if isinstance(ref, list) and isinstance(cand, list):
        if ref == cand and all(type(a) is type(b) for a, b in zip(ref, cand)):
            return
        if _scalars(ref) and _scalars(cand) and len(ref) + len(cand) > LONG_LIST:
            out.append(_list_difference(step, path, ref, cand))
            return
        if len(ref) == len(cand):
            for index, (a, b) in enumerate(zip(ref, cand)):
                _diff_values(step, f"{path}[{index}]", a, b, out)
            return
    if ref != cand or type(ref) is not type(cand):
        out.append(Difference(step, path, ref, cand))


LONG_LIST = 12   # lists of scalars longer than this (both together) are compared as a summary


def _scalars(items: list) -> bool:
    return all(not isinstance(item, (dict, list)) for item in items)


def _list_difference(step: str, path: str, ref: list, cand: list) -> Difference:
    """One difference for two long lists of scalars (the API extensions): what only one
    side has, or where the order first differs."""
    only_ref = [item for item in ref if item not in cand]
    only_cand = [item for item in cand if item not in ref]
    if only_ref or only_cand:
        where = {item: index for index, item in enumerate(ref)}
        placed = ", ".join(f"{item!r} at [{where[item]}]" for item in only_ref[:10])
        return Difference(step, path, {"only here": only_ref}, {"only here": only_cand},
                          f"{len(ref)} vs {len(cand)} items" + (f"; the reference has {placed}" if placed else ""))
    first = next(index for index, (a, b) in enumerate(zip(ref, cand)) if a != b)
    return Difference(step, path, ref[first:first + 3], cand[first:first + 3],
                      f"same {len(ref)} items, in another order from index {first}")


def _envelope_type(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("type"), str):
        return body["type"]
    return None if isinstance(body, dict) else f"<{type(body).__name__}>"


def _gist(body: Any) -> Any:
    """An envelope without its empty fields (what an error or a success says)."""
    if not isinstance(body, dict):
        return body
    return {key: value for key, value in body.items() if value not in ("", 0, None) or key == "metadata"}


def compare(reference: dict, candidate: dict) -> tuple[list[Difference], list[str]]:
    """The differences between two records of one step, and notes (what could not be
    compared)."""
    step = reference["step"]
    out: list[Difference] = []
    notes: list[str] = []
    if "skipped" in reference or "skipped" in candidate:
        if reference.get("skipped") != candidate.get("skipped"):
            out.append(Difference(step, "skipped", reference.get("skipped", ABSENT), candidate.get("skipped", ABSENT)))
        return out, notes
    if reference["status"] != candidate["status"]:
        out.append(Difference(step, "status", reference["status"], candidate["status"]))
    ref_body, cand_body = reference["body"], candidate["body"]
    # Another kind of reply (an error for a success): one difference for the envelope, which
    # also stands for what LXD's errors always differ in (nosniff, the second newline).
    other_kind = _envelope_type(ref_body) != _envelope_type(cand_body)
    implied = ("x-content-type-options",) if other_kind else ()
    for name in SELECTED_HEADERS:
        if name not in implied and reference["headers"].get(name) != candidate["headers"].get(name):
            out.append(Difference(step, f"headers.{name}", reference["headers"].get(name),
                                  candidate["headers"].get(name)))
    before = len(out)
    if other_kind:
        out.append(Difference(step, "body", _gist(ref_body), _gist(cand_body), "another kind of reply"))
    else:
        if reference["framing"] != candidate["framing"]:
            _diff_values(step, "framing", reference["framing"], candidate["framing"], out)
        _diff_values(step, "body", ref_body, cand_body, out)
    same_body = len(out) == before
    ref_etag, cand_etag = reference["headers"].get("etag"), candidate["headers"].get("etag")
    if (ref_etag is None) != (cand_etag is None):
        out.append(Difference(step, "headers.etag", ref_etag, cand_etag))
    elif ref_etag is not None and ref_etag != cand_etag:
        ref_recipe, cand_recipe = ref_etag.split(":")[0], cand_etag.split(":")[0]
        if ref_recipe == "unexplained":
            notes.append(f"{step}: headers.etag: the reference's ETag matches no known recipe: not compared")
        elif ref_recipe != cand_recipe:
            out.append(Difference(step, "headers.etag", f"sha256 of {ref_recipe}", f"sha256 of {cand_recipe}",
                                  "hashes different content"))
        elif same_body:
            out.append(Difference(step, "headers.etag", ref_etag, cand_etag,
                                  "same normalised body, different normalised ETag"))
        else:
            notes.append(f"{step}: headers.etag: same recipe ({ref_recipe}), hash of different content "
                         "(the body differs)")
    return out, notes


def compare_runs(reference: dict[str, dict], candidate: dict[str, dict],
                 steps: Iterable[Step]) -> tuple[list[Difference], list[str], int]:
    """Compare two runs' records step by step: (differences, notes, identical steps)."""
    differences: list[Difference] = []
    notes: list[str] = []
    identical = 0
    for step in steps:
        ref, cand = reference.get(step.name), candidate.get(step.name)
        if ref is None or cand is None:
            differences.append(Difference(step.name, "record", "present" if ref else ABSENT,
                                          "present" if cand else ABSENT))
            continue
        found, step_notes = compare(ref, cand)
        differences.extend(found)
        notes.extend(step_notes)
        identical += not found
    return differences, notes, identical


EVENT_FIELDS = ("type", "action", "source", "context_keys", "location")


def _event_key(event: dict) -> tuple:
    return tuple(json.dumps(event.get(name)) for name in EVENT_FIELDS)


def event_path(event: dict) -> str:
    """How a difference names an event: ``<action> <source> location=<l> context=<keys>``
    (``<type>`` first if it is not a lifecycle event)."""
    kind = "" if event.get("type") == "lifecycle" else f"{event.get('type')} "
    context = event.get("context_keys")
    return (f"{kind}{event.get('action')} {event.get('source')} location={event.get('location')}"
            + (f" context={','.join(context)}" if context else ""))


def compare_events(reference: list[dict], candidate: list[dict]) -> list[Difference]:
    """The differences between two runs' lifecycle events (:func:`event_record`).

    Events are delivered asynchronously, and a real server emits some (operation
    cancellations, evacuations on another member) from goroutines of their own, so the
    order of events about different objects is not compared. Compared: which events
    there are, with their number, and, for each source, the order of its events. Each
    difference is named ``events``, its path the event's source."""
    from collections import Counter

    out: list[Difference] = []
    ref_count, cand_count = Counter(map(_event_key, reference)), Counter(map(_event_key, candidate))
    first: dict[tuple, dict] = {}   # each event as first seen, preferably with when it arrived
    for event in [*reference, *candidate]:
        key = _event_key(event)
        if key not in first or (event.get("arrived_during") and not first[key].get("arrived_during")):
            first[key] = event
    for key in dict.fromkeys([*map(_event_key, reference), *map(_event_key, candidate)]):
        if ref_count[key] != cand_count[key]:
            event = first[key]
            when = f"first arrived while {event['arrived_during']} ran" if event.get("arrived_during") else ""
            out.append(Difference("events", event_path(event), ref_count[key], cand_count[key], when))
    sources = dict.fromkeys(e.get("source") for e in [*reference, *candidate])
    for source in sources:
        ref_seq = [_event_key(e) for e in reference if e.get("source") == source]
        cand_seq = [_event_key(e) for e in candidate if e.get("source") == source]
        if ref_seq != cand_seq and Counter(ref_seq) == Counter(cand_seq):
            show = lambda seq: [json.loads(key[1]) for key in seq]
            out.append(Difference("events", f"{source} <order>", show(ref_seq), show(cand_seq),
                                  "the same events about this source, in another order"))
    return out
