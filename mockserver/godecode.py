"""Decode request bodies the way LXD's Go handlers do, with Go's error texts.

LXD answers a bad body with the message of Go's ``json.Decoder`` verbatim (``unexpected
EOF``, ``invalid character 'b' looking for beginning of object key string``, ``json: cannot
unmarshal number into Go struct field ClusterMemberPut.description of type string``). Clients
and tests match on those texts, so we reproduce Go's scanner states and type rules here.
"""
from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass

from mockserver.errors import ApiError
from mockserver.wire import SURROGATE

_BEGIN_VALUE = "looking for beginning of value"
_BEGIN_KEY = "looking for beginning of object key string"
# Go's encoding/json refuses a value nested deeper than this (scanner.go maxNestingDepth).
MAX_DEPTH = 10000

_WS = re.compile(r"[ \t\n\r]*")
# One character or one escape per repetition: alternatives that start differently, so that
# a string that does not end well fails in linear time (a nested "+" inside "*" backtracks
# exponentially).
_STRING = re.compile(r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"')
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_HEX = frozenset("0123456789abcdefABCDEF")
# A \u escape of a UTF-16 surrogate: Python keeps a lone one as is, Go decodes it to U+FFFD.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_GO_REPLACE = "pylxd-cluster-go-replace"


def _replace_each_byte(error: UnicodeDecodeError):
    # Go's decoder turns every byte of an invalid UTF-8 sequence into one U+FFFD; Python's
    # "replace" gives one per maximal invalid subsequence.
    return "\ufffd" * (error.end - error.start), error.end


codecs.register_error(_GO_REPLACE, _replace_each_byte)


class _Eof(Exception):
    pass


class _NotPython(Exception):
    """A JSON constant (NaN, Infinity) that Python's parser accepts and Go's refuses."""


class OutOfRange(float):
    """A number too large for a float64 (or a Python int): Go refuses it where it must
    hold it (an interface{} or an int64) and names it by its text."""

    literal: str

    def __new__(cls, literal: str):
        number = super().__new__(cls, "-inf" if literal.startswith("-") else "inf")
        number.literal = literal
        return number


def _float(text: str) -> float:
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else OutOfRange(text)


def _refuse_constant(name: str):
    raise _NotPython(name)


_PYTHON_JSON = json.JSONDecoder(parse_float=_float, parse_constant=_refuse_constant)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\"}


def _quote_char(ch: str) -> str:
    """Quote a character as Go's scanner does in its errors (strconv.Quote inside '')."""
    if ch == "'":
        return "'\\''"
    if ch == '"':
        return "'\"'"
    if ch in _GO_ESCAPES:
        return f"'{_GO_ESCAPES[ch]}'"
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"'\\x{code:02x}'"
    if not ch.isprintable():
        return f"'\\u{code:04x}'" if code < 0x10000 else f"'\\U{code:08x}'"
    return f"'{ch}'"


def _invalid(ch: str, context: str) -> ApiError:
    return ApiError(400, f"invalid character {_quote_char(ch)} {context}")


class _Scanner:
    """Go's scanner, iterative (no recursion however deep the nesting) and token-wise with
    regular expressions where the input is valid; it fails where and as Go's fails, and
    builds the value as it goes."""

    def __init__(self, text: str):
        self.text = text
        self.end = len(text)

    def _skip(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()

    def _char(self, pos: int) -> str:
        if pos >= self.end:
            raise _Eof
        return self.text[pos]

    def value(self, pos: int):
        """The value that starts at ``pos`` (after whitespace), and where it ends."""
        stack: list = []   # open containers: [list] or [dict, key of the value being read]
        while True:
            pos = self._skip(pos)
            ch = self._char(pos)
            if ch in "{[":
                if len(stack) >= MAX_DEPTH:
                    raise _invalid(ch, "exceeded max depth")
                pos = self._skip(pos + 1)
                if ch == "[":
                    if self._char(pos) != "]":
                        stack.append([[]])
                        continue
                    value, pos = [], pos + 1
                elif self._char(pos) == "}":
                    value, pos = {}, pos + 1
                else:
                    key, pos = self._key(pos)
                    stack.append([{}, key])
                    continue
            elif ch == '"':
                value, pos = self._string(pos)
            elif ch == "-" or "0" <= ch <= "9":
                value, pos = self._number(pos)
            elif ch in "tfn":
                value, pos = self._literal(pos, {"t": "true", "f": "false", "n": "null"}[ch])
            else:
                raise _invalid(ch, _BEGIN_VALUE)
            # A value is complete: it goes into the containers it closes.
            while stack:
                frame = stack[-1]
                container = frame[0]
                pos = self._skip(pos)
                ch = self._char(pos)
                pos += 1
                if isinstance(container, dict):
                    container[frame[1]] = value
                    if ch == ",":
                        frame[1], pos = self._key(self._skip(pos))
                        break
                    if ch != "}":
                        raise _invalid(ch, "after object key:value pair")
                else:
                    container.append(value)
                    if ch == ",":
                        break
                    if ch != "]":
                        raise _invalid(ch, "after array element")
                value = container
                stack.pop()
            else:
                return value, pos

    def _key(self, pos: int):
        """An object key and its colon, from ``pos``; returns (key, where its value starts)."""
        ch = self._char(pos)
        if ch != '"':
            raise _invalid(ch, _BEGIN_KEY)
        key, pos = self._string(pos)
        pos = self._skip(pos)
        ch = self._char(pos)
        if ch != ":":
            raise _invalid(ch, "after object key")
        return key, pos + 1

    def _string(self, pos: int):
        match = _STRING.match(self.text, pos)
        if match is None:
            self._string_error(pos + 1)
        return json.loads(match.group()), match.end()

    def _string_error(self, pos: int):
        """Raise what Go's scanner says of the malformed string whose content starts at ``pos``."""
        while True:
            ch = self._char(pos)
            pos += 1
            if ch == "\\":
                ch = self._char(pos)
                pos += 1
                if ch == "u":
                    for _ in range(4):
                        digit = self._char(pos)
                        if digit not in _HEX:
                            raise _invalid(digit, "in \\u hexadecimal character escape")
                        pos += 1
                elif ch not in 'bfnrt"\\/':
                    raise _invalid(ch, "in string escape code")
            elif ch < " ":
                raise _invalid(ch, "in string literal")

    def _number(self, pos: int):
        match = _NUMBER.match(self.text, pos)
        if match is None:  # a lone minus sign
            ch = self._char(pos + 1)
            raise _invalid(ch, "in numeric literal")
        literal, pos = match.group(), match.end()
        if pos < self.end:
            ch = self.text[pos]
            if ch == "." and "." not in literal and "e" not in literal.lower():
                raise _invalid(self._char(pos + 1), "after decimal point in numeric literal")
            if ch in "eE" and "e" not in literal.lower():
                pos += 1
                if self._char(pos) in "+-":
                    pos += 1
                raise _invalid(self._char(pos), "in exponent of numeric literal")
        if "." in literal or "e" in literal.lower():
            return _float(literal), pos
        try:
            return int(literal), pos
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return OutOfRange(literal), pos

    def _literal(self, pos: int, word: str):
        for expected in word:
            ch = self._char(pos)
            if ch != expected:
                raise _invalid(ch, f"in literal {word} (expecting {_quote_char(expected)})")
            pos += 1
        return {"true": True, "false": False, "null": None}[word], pos


def _without_surrogates(value):
    """``value`` with every UTF-16 surrogate in its strings (keys too) made U+FFFD, as Go
    decodes a lone ``\\ud800``; iterative, for values of any depth."""
    def clean(item):
        if isinstance(item, str) and SURROGATE.search(item):
            return SURROGATE.sub("\ufffd", item)
        return item

    root = [clean(value)]
    pending = [(root, 0)]
    while pending:
        container, index = pending.pop()
        item = container[index]
        if isinstance(item, list):
            for position, element in enumerate(item):
                item[position] = clean(element)
                pending.append((item, position))
        elif isinstance(item, dict):
            entries = [(clean(key), clean(element)) for key, element in item.items()]
            item.clear()
            item.update(entries)
            pending.extend((item, key) for key in item)
    return root[0]


def parse_json(body: bytes):
    """Parse one JSON value as Go's json.Decoder.Decode does; trailing data is ignored.

    Invalid UTF-8 and lone surrogate escapes become U+FFFD, as in Go. Nesting up to Go's
    10,000 levels is taken (and built without recursion); numbers too large for a float64
    come back as :class:`OutOfRange`.

    Raises:
        ApiError: 400 with Go's text (``EOF`` for an empty body).
    """
    text = body.decode("utf-8", _GO_REPLACE)
    start = _WS.match(text).end()
    if start >= len(text):
        raise ApiError(400, "EOF")
    try:
        # Python's C parser first: valid bodies (almost all) never reach the scanner.
        value, end = _PYTHON_JSON.raw_decode(text, start)
        if text[end - 1] not in "]}\"el" and end < len(text) and text[end] in ".eE":
            raise _NotPython("a number Python ends earlier than Go")
    except (ValueError, RecursionError, _NotPython):
        try:
            value, _ = _Scanner(text).value(start)
        except _Eof:
            raise ApiError(400, "unexpected EOF") from None
    if _SURROGATE_ESCAPE.search(text):
        value = _without_surrogates(value)
    return value


# ---- Go types --------------------------------------------------------------------------

@dataclass(frozen=True)
class GoType:
    name: str          # as Go prints it in errors: string, bool, int64, []string, ...
    kind: str          # the JSON kind it accepts: string, bool, number, array, object, any


STRING = GoType("string", "string")
BOOL = GoType("bool", "bool")
INT64 = GoType("int64", "number")
ANY = GoType("interface {}", "any")


@dataclass(frozen=True)
class ListOf(GoType):
    item: GoType = STRING

    def __init__(self, item: GoType):
        object.__setattr__(self, "name", f"[]{item.name}")
        object.__setattr__(self, "kind", "array")
        object.__setattr__(self, "item", item)


@dataclass(frozen=True)
class MapOf(GoType):
    value: GoType = STRING

    def __init__(self, value: GoType):
        object.__setattr__(self, "name", f"map[string]{value.name}")
        object.__setattr__(self, "kind", "object")
        object.__setattr__(self, "value", value)


class Struct(GoType):
    """A Go struct: its name, and its JSON fields in declaration order."""

    def __init__(self, name: str, fields: dict):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", "object")
        self.fields = dict(fields)
        self._folded = {key.casefold(): key for key in self.fields}

    def field_for(self, key: str):
        if key in self.fields:
            return key
        # Go matches object keys to field tags case-insensitively.
        return self._folded.get(key.casefold())

    def zero(self) -> dict:
        return {key: _zero(gotype) for key, gotype in self.fields.items()}

    def __hash__(self):
        return hash(self.name)


def _zero(gotype: GoType):
    if gotype is STRING:
        return ""
    if gotype is BOOL:
        return False
    if gotype is INT64:
        return 0
    return None


def _json_kind(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Decoder:
    def __init__(self, strict: bool):
        self.strict = strict
        self.first_error: ApiError | None = None

    def _type_error(self, value, gotype: GoType, where: str, what: str | None = None):
        if self.first_error is None:
            what = what or _json_kind(value)
            self.first_error = ApiError(400, f"json: cannot unmarshal {what} into {where} of type {gotype.name}")

    def _number_error(self, value, gotype_name: str, where: str):
        literal = value.literal if isinstance(value, OutOfRange) else repr(value)
        if self.first_error is None:
            self.first_error = ApiError(
                400, f"json: cannot unmarshal number {literal} into {where} of type {gotype_name}")

    def convert(self, value, gotype: GoType, current, where: str):
        """Decode ``value`` into a Go value of ``gotype`` that currently holds ``current``."""
        if value is None:
            # null clears maps and slices and leaves everything else untouched.
            return None if isinstance(gotype, (ListOf, MapOf)) else current
        if gotype is ANY:
            if _json_kind(value) != "number":
                return value
            # An interface{} holds a number as a float64: what does not fit is refused.
            try:
                if isinstance(value, OutOfRange):
                    raise OverflowError
                return float(value)
            except OverflowError:
                self._number_error(value, "float64", where)
                return current
        if _json_kind(value) != gotype.kind:
            self._type_error(value, gotype, where)
            return current
        if gotype is INT64:
            if isinstance(value, float) or not -2**63 <= value < 2**63:
                self._number_error(value, gotype.name, where)
                return current
            return value
        if isinstance(gotype, ListOf):
            return [self.convert(item, gotype.item, _zero(gotype.item), where) for item in value]
        if isinstance(gotype, MapOf):
            merged = dict(current) if isinstance(current, dict) else {}
            for key, item in value.items():
                merged[key] = self.convert(item, gotype.value, merged.get(key, _zero(gotype.value)), where)
            return merged
        if isinstance(gotype, Struct):
            return self.struct(value, gotype, current if isinstance(current, dict) else gotype.zero())
        return value

    def struct(self, obj: dict, struct: Struct, current: dict) -> dict:
        result = dict(current)
        for key, value in obj.items():
            field = struct.field_for(key)
            if field is None:
                if self.strict and self.first_error is None:
                    self.first_error = ApiError(400, f'json: unknown field "{key}"')
                continue
            where = f"Go struct field {struct.name}.{field}"
            result[field] = self.convert(value, struct.fields[field], result.get(field), where)
        return result


def decode(body: bytes, struct: Struct, current: dict | None = None, *, strict: bool = False) -> dict:
    """Decode a request body into ``struct``, over ``current`` values if given (Go semantics).

    Unknown fields are ignored as LXD does, unless ``strict`` (then Go's DisallowUnknownFields
    text is used).

    Raises:
        ApiError: 400 with the text Go's decoder would give.
    """
    value = parse_json(body)
    decoder = _Decoder(strict)
    start = dict(current) if current is not None else struct.zero()
    if value is None:
        return start
    if not isinstance(value, dict):
        raise ApiError(400, f"json: cannot unmarshal {_json_kind(value)} into Go value of type api.{struct.name}")
    result = decoder.struct(value, struct, start)
    if decoder.first_error is not None:
        raise decoder.first_error
    return result
