"""Hypothesis strategies for what a hostile client sends to LXD's API.

A request is (method, path, body bytes, headers). Its parts come from what broke servers
before: names with control characters, NULs, percent signs, lone surrogates (escaped in
JSON, raw as invalid UTF-8) and thousands of characters; bodies of LXD's request structs
with values of the wrong type, nesting up to Go's limit and past it, numbers no float64
holds, bodies past the size limit; wrong methods; and headers that are not UTF-8 or that
claim an encoding the body does not have.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from hypothesis import strategies as st

MEMBERS = ("node1", "node2", "node3")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes
    headers: tuple

    def __repr__(self) -> str:   # what hypothesis prints for a failing example
        return f"Request({self.method} {self.path[:120]!r} body={self.body[:200]!r} headers={self.headers!r})"


# ---- names ---------------------------------------------------------------------------------

CONTROL = st.sampled_from(["\n", "\t", "\r", "\x00", "\x01", "\x7f", "\u2028", " ", "%", "?", "#", ";", "/", "\\",
                           "\ufffd", "é", "\U0001f600", "\ud800", "\udfff"])
ANY_CHARACTER = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=())

# Names that requests create objects under and refer to again within a batch.
POOL = MEMBERS + ("default", "g1", "n\nl", "t\tab", "z\x00z", "z", "é", "%41", "a b", "sur\ud800", "none", "")

names = st.one_of(
    st.sampled_from(POOL), st.sampled_from(POOL),
    st.text(alphabet=st.one_of(st.sampled_from("abcxyz019-_."), CONTROL), min_size=1, max_size=12),
    st.text(alphabet=ANY_CHARACTER, min_size=1, max_size=8),
    st.builds(lambda base, n: base * n, st.sampled_from(["a", "é", "%", "\n"]), st.integers(256, 5000)),
)


def escaped(name: str, how: str) -> str:
    """A name as it goes into a path: escaped once (how LXD finds objects), twice (as LXD
    lists them), or raw UTF-8 bytes percent-escaped one by one, surrogates included (as
    invalid UTF-8)."""
    raw = name.encode("utf-8", "surrogatepass")
    once = quote(raw, safe="")
    return {"once": once, "twice": quote(once, safe=""), "plus": once.replace("%20", "+")}[how]


name_in_path = st.builds(escaped, names, st.sampled_from(["once", "once", "twice", "plus"]))

# ---- paths ---------------------------------------------------------------------------------

ROUTES = (
    "/", "/1.0", "/1.0/cluster", "/1.0/cluster/certificate", "/1.0/cluster/config", "/1.0/cluster/members",
    "/1.0/cluster/members/{name}", "/1.0/cluster/members/{name}/state", "/1.0/cluster/groups",
    "/1.0/cluster/groups/{name}", "/1.0/operations", "/1.0/operations/{name}", "/1.0/operations/{name}/wait",
    "/1.0/events", "/1.0/projects", "/1.0/projects/{name}", "/1.0/nothing", "/2.0/cluster", "/1.0/cluster/{name}",
)
MOCK_ROUTES = ("/mock", "/mock/requests", "/mock/members", "/mock/members/{name}", "/mock/members/{name}/status",
               "/mock/faults", "/mock/events", "/mock/reset")
PACK_ROUTES = ("/internal/pack/document", "/internal/pack/join")

QUERIES = st.sampled_from(["", "", "", "?recursion=1", "?recursion=2", "?recursion=-1", "?recursion=x",
                           "?force=1", "?timeout=0", "?timeout=-5", "?timeout=1e999", "?timeout=nan",
                           "?filter=server_name+eq+node1", "?filter=" + "(" * 300, "?filter=a+eq+%ff",
                           "?type=lifecycle", "?type=%00", "?%ff=%fe", "?recursion=1&recursion=0"])


@st.composite
def paths(draw, routes):
    route = draw(st.sampled_from(routes))
    if "{name}" in route:
        route = route.replace("{name}", draw(name_in_path))
    return route + draw(QUERIES)


# ---- bodies ----------------------------------------------------------------------------------

FIELDS = ("description", "roles", "groups", "config", "failure_domain", "name", "members", "server_name", "action",
          "mode", "force", "modules", "status", "since", "message", "path", "latency", "times", "error", "enabled",
          "cluster_certificate", "cluster_address", "Description", "SERVER_NAME")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.one_of(ANY_CHARACTER, CONTROL), max_size=20), names,
    st.sampled_from(["database", "database-leader", "event-hub", "evacuate", "restore", "stop", "live-migrate",
                     "Offline", "Online", "Blocked", "default", "user.a", "scheduler.instance", "all"]),
)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.sampled_from(FIELDS + ("user.x",)), names), inner,
                                                 max_size=4)), max_leaves=12)


def _module_list(items) -> list:
    return [{name: options} for name, options in items]


objects = st.one_of(
    st.fixed_dictionaries({}, optional={field: json_values for field in FIELDS}),
    st.fixed_dictionaries({"description": st.text(alphabet=ANY_CHARACTER, max_size=10), "roles": st.just(["database"]),
                           "groups": st.just(["default"]), "failure_domain": st.just("default"),
                           "config": st.dictionaries(st.sampled_from(["user.a", "user.b", "scheduler.instance"]),
                                                     st.text(alphabet=ANY_CHARACTER, max_size=6), max_size=2)}),
    st.fixed_dictionaries({"name": names}, optional={"description": names, "members": st.lists(names, max_size=3)}),
    st.fixed_dictionaries({"server_name": names}),
    st.fixed_dictionaries({"modules": st.lists(st.dictionaries(names, st.one_of(st.none(), json_values), min_size=1,
                                                               max_size=1), max_size=3)}),
    st.fixed_dictionaries({"action": st.sampled_from(["evacuate", "restore", "x"]),
                           "mode": st.sampled_from(["", "stop", "bogus"])}),
    json_values,
)


def _json_text(value) -> bytes:
    # ensure_ascii: lone surrogates travel as \ud800 escapes, the way a JSON encoder that
    # does not check them sends them.
    return json.dumps(value, ensure_ascii=True, allow_nan=False).encode()


@st.composite
def mangled(draw, body: bytes) -> bytes:
    """``body`` with one hostile edit."""
    edit = draw(st.sampled_from(["none"] * 12 + ["deep", "deep_past_limit", "digits", "utf8", "truncate", "huge",
                                                 "nul", "bom"]))
    if edit == "none":
        return body
    if edit in ("deep", "deep_past_limit"):
        depth = 10001 if edit == "deep_past_limit" else draw(st.sampled_from([64, 65, 999, 3000]))
        open_, close = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
        nested = (open_ * depth + close * depth).encode()
        return b'{"' + draw(st.sampled_from(FIELDS)).encode() + b'":' + nested + b"}"
    if edit == "digits":
        return b'{"' + draw(st.sampled_from(FIELDS)).encode() + b'":' + b"9" * draw(st.integers(4000, 6000)) + b"}"
    if edit == "utf8":
        at = draw(st.integers(0, len(body)))
        return (
            body[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80"]))
            + body[at:]
        )
    if edit == "truncate":
        return body[:draw(st.integers(0, max(0, len(body) - 1)))]
    if edit == "huge":
        return b'{"description":"' + b"x" * draw(st.sampled_from([1024 * 1024 - 40, 5 * 1024 * 1024])) + b'"}'
    if edit == "nul":
        return body.replace(b'"', b'"\\u0000', 1)
    return b"\xef\xbb\xbf" + body


bodies = st.one_of(st.just(b""), objects.map(_json_text).flatmap(mangled))

# ---- headers -------------------------------------------------------------------------------

# Bytes a header value may hold (no control characters: HTTP parsers, Go's and aiohttp's,
# refuse those before any handler runs), non-ASCII included.
header_values = st.binary(max_size=40).map(lambda raw: bytes(b for b in raw if b == 9 or 32 <= b != 127))
headers = st.lists(st.one_of(
    st.tuples(st.just("If-Match"), st.one_of(header_values, st.just(b'"deadbeef"'), st.just(b"*"))),
    st.tuples(st.just("Content-Encoding"), st.sampled_from([b"gzip", b"deflate", b"br", b"identity", b"\xff"])),
    st.tuples(st.just("Content-Type"), st.one_of(header_values, st.just(b"application/json"))),
    st.tuples(st.just("Accept-Encoding"), st.sampled_from([b"gzip", b"*"])),
    st.tuples(st.just("X-Pack-Forwarded"), st.sampled_from([b"1", b"\xff"])),
    st.tuples(st.just("X-Pack-Proof"), header_values),
    st.tuples(st.just("User-Agent"), header_values),
), max_size=3, unique_by=lambda header: header[0]).map(tuple)   # aiohttp refuses repeats of some

METHODS = st.sampled_from(["GET", "PUT", "PATCH", "POST", "DELETE", "HEAD", "OPTIONS", "PURGE"])

# What each route takes, with the body it expects: most requests are well aimed (a wrong
# method only tells the 501 again), with hostile values inside.
WRITES = (
    ("PUT", "/1.0/cluster/members/{name}", "member"), ("PATCH", "/1.0/cluster/members/{name}", "member"),
    ("POST", "/1.0/cluster/members/{name}", "server_name"), ("DELETE", "/1.0/cluster/members/{name}", ""),
    ("POST", "/1.0/cluster/members/{name}/state", "state"), ("GET", "/1.0/cluster/members/{name}/state", ""),
    ("POST", "/1.0/cluster/members", "server_name"), ("POST", "/1.0/cluster/groups", "group"),
    ("PUT", "/1.0/cluster/groups/{name}", "group"), ("PATCH", "/1.0/cluster/groups/{name}", "group"),
    ("POST", "/1.0/cluster/groups/{name}", "group"), ("DELETE", "/1.0/cluster/groups/{name}", ""),
    ("PUT", "/1.0/cluster/config", "modules"), ("PATCH", "/1.0/cluster/config", "modules"),
    ("PUT", "/1.0/cluster", "any"), ("PUT", "/1.0/cluster/certificate", "any"),
    ("DELETE", "/1.0/operations/{name}", ""), ("GET", "/1.0/operations/{name}/wait", ""),
)
MOCK_WRITES = (
    ("POST", "/mock/members", "server_name"), ("DELETE", "/mock/members/{name}", ""),
    ("PUT", "/mock/members/{name}/status", "status"), ("POST", "/mock/faults", "fault"),
    ("DELETE", "/mock/requests", ""), ("POST", "/mock/reset", ""),
)
PACK_WRITES = (("POST", "/internal/pack/join", "any"), ("GET", "/internal/pack/document", ""))

member_bodies = st.fixed_dictionaries(
    {
        "failure_domain": st.one_of(st.just("default"), names),
        "groups": st.one_of(st.just(["default"]), st.lists(names, max_size=2)),
    },
    optional={
        "description": st.one_of(names, json_values),
        "roles": st.sampled_from([["database"], [], ["event-hub"], ["x"]]),
        "config": st.dictionaries(
            st.sampled_from(["user.a", "user.\n", "scheduler.instance", "bogus"]),
            st.one_of(names, json_values),
            max_size=2,
        ),
    },
)
BODIES_BY_KIND = {
    "member": member_bodies,
    "server_name": st.fixed_dictionaries({"server_name": names}),
    "state": st.fixed_dictionaries(
        {"action": st.sampled_from(["evacuate", "restore", "x"])},
        optional={"mode": st.sampled_from(["", "stop", "skip", "bogus"]), "force": json_values},
    ),
    "group": st.fixed_dictionaries(
        {"name": names}, optional={"description": st.one_of(names, json_values), "members": st.lists(names, max_size=3)}
    ),
    "modules": st.fixed_dictionaries(
        {
            "modules": st.lists(
                st.dictionaries(names, st.one_of(st.none(), json_values), min_size=1, max_size=1), max_size=3
            )
        }
    ),
    "status": st.fixed_dictionaries(
        {"status": st.sampled_from(["Online", "Offline", "Evacuated", "Blocked", "x"])},
        optional={"since": json_values, "message": names},
    ),
    "fault": st.fixed_dictionaries(
        {"path": st.one_of(names, st.just("/nothing/*"))},
        optional={"status": json_values, "latency": json_values, "times": json_values},
    ),
    "any": objects,
    "": st.just(None),
}


@st.composite
def aimed(draw, table):
    method, route, kind = draw(st.sampled_from(table))
    if "{name}" in route:
        route = route.replace("{name}", draw(name_in_path))
    value = draw(BODIES_BY_KIND[kind])
    body = b"" if value is None else draw(mangled(_json_text(value)))
    return Request(method, route + draw(QUERIES), body, draw(headers))


def requests(routes, writes) -> st.SearchStrategy:
    """Requests to ``routes`` (any method, any body) and ``writes`` (method, route and body
    kind as the server expects them), about one in four unaimed."""
    return st.one_of(
        aimed(writes), aimed(writes), aimed(writes), st.builds(Request, METHODS, paths(routes), bodies, headers)
    )
