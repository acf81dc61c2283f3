"""Decode request bodies the way LXD's Go handlers do, with Go's error texts.

LXD answers a bad body with the message of Go's ``json.Decoder`` verbatim (``unexpected
EOF``, ``invalid character 'b' looking for beginning of object key string``, ``json: cannot
unmarshal number into Go struct field ClusterMemberPut.description of type string``). Clients
and tests match on those texts, so we reproduce Go's scanner states and type rules here.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import ApiError

_WHITESPACE = " \t\n\r"
_BEGIN_VALUE = "looking for beginning of value"
_BEGIN_KEY = "looking for beginning of object key string"


class _Eof(Exception):
    pass


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
    """A recursive-descent validator that fails exactly where Go's scanner fails."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0

    def _skip_ws(self):
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _WHITESPACE:
            pos += 1
        self.pos = pos

    def _peek(self) -> str:
        if self.pos >= len(self.text):
            raise _Eof
        return self.text[self.pos]

    def value(self, top_level=False):
        self._skip_ws()
        ch = self._peek()
        if ch == "{":
            self._object()
        elif ch == "[":
            self._array()
        elif ch == '"':
            self._string()
        elif ch == "-" or ch.isdigit() and ch.isascii():
            self._number(top_level)
        elif ch in "tfn":
            self._literal({"t": "true", "f": "false", "n": "null"}[ch])
        else:
            raise _invalid(ch, _BEGIN_VALUE)

    def _object(self):
        self.pos += 1
        self._skip_ws()
        if self._peek() == "}":
            self.pos += 1
            return
        while True:
            ch = self._peek()
            if ch != '"':
                raise _invalid(ch, _BEGIN_KEY)
            self._string()
            self._skip_ws()
            ch = self._peek()
            if ch != ":":
                raise _invalid(ch, "after object key")
            self.pos += 1
            self.value()
            self._skip_ws()
            ch = self._peek()
            self.pos += 1
            if ch == "}":
                return
            if ch != ",":
                raise _invalid(ch, "after object key:value pair")
            self._skip_ws()

    def _array(self):
        self.pos += 1
        self._skip_ws()
        if self._peek() == "]":
            self.pos += 1
            return
        while True:
            self.value()
            self._skip_ws()
            ch = self._peek()
            self.pos += 1
            if ch == "]":
                return
            if ch != ",":
                raise _invalid(ch, "after array element")

    def _string(self):
        self.pos += 1
        while True:
            ch = self._peek()
            self.pos += 1
            if ch == '"':
                return
            if ch == "\\":
                ch = self._peek()
                self.pos += 1
                if ch == "u":
                    for _ in range(4):
                        digit = self._peek()
                        if digit not in "0123456789abcdefABCDEF":
                            raise _invalid(digit, "in \\u hexadecimal character escape")
                        self.pos += 1
                elif ch not in 'bfnrt"\\/':
                    raise _invalid(ch, "in string escape code")
            elif ord(ch) < 0x20:
                raise _invalid(ch, "in string literal")

    def _digits(self, top_level) -> bool:
        """Consume digits; report whether the text ended (a top-level number may end at EOF)."""
        while self.pos < len(self.text) and self.text[self.pos] in "0123456789":
            self.pos += 1
        if self.pos >= len(self.text):
            if top_level:
                return True
            raise _Eof
        return False

    def _number(self, top_level):
        if self._peek() == "-":
            self.pos += 1
            ch = self._peek()
            if ch not in "0123456789":
                raise _invalid(ch, "in numeric literal")
        if self._peek() == "0":
            self.pos += 1
            if self.pos >= len(self.text):
                if top_level:
                    return
                raise _Eof
        elif self._digits(top_level):
            return
        if self.text[self.pos] == ".":
            self.pos += 1
            ch = self._peek()
            if ch not in "0123456789":
                raise _invalid(ch, "after decimal point in numeric literal")
            if self._digits(top_level):
                return
        if self.text[self.pos] in "eE":
            self.pos += 1
            if self._peek() in "+-":
                self.pos += 1
            ch = self._peek()
            if ch not in "0123456789":
                raise _invalid(ch, "in exponent of numeric literal")
            self._digits(top_level)

    def _literal(self, word):
        for index, expected in enumerate(word):
            ch = self._peek()
            if ch != expected:
                raise _invalid(ch, f"in literal {word} (expecting {_quote_char(expected)})")
            self.pos += 1


def parse_json(body: bytes):
    """Parse one JSON value as Go's json.Decoder.Decode does; trailing data is ignored.

    Raises:
        ApiError: 400 with Go's text (``EOF`` for an empty body).
    """
    text = body.decode("utf-8", errors="replace")
    scanner = _Scanner(text)
    scanner._skip_ws()
    if scanner.pos >= len(text):
        raise ApiError(400, "EOF")
    start = scanner.pos
    try:
        scanner.value(top_level=True)
    except _Eof:
        raise ApiError(400, "unexpected EOF") from None
    return json.loads(text[start:scanner.pos])


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

    def _type_error(self, value, gotype: GoType, where: str):
        if self.first_error is None:
            self.first_error = ApiError(
                400, f"json: cannot unmarshal {_json_kind(value)} into {where} of type {gotype.name}")

    def convert(self, value, gotype: GoType, current, where: str):
        """Decode ``value`` into a Go value of ``gotype`` that currently holds ``current``."""
        if value is None:
            # null clears maps and slices and leaves everything else untouched.
            return None if isinstance(gotype, (ListOf, MapOf)) else current
        if gotype is ANY:
            return value
        if _json_kind(value) != gotype.kind:
            self._type_error(value, gotype, where)
            return current
        if gotype is INT64 and (isinstance(value, float) and not value.is_integer()):
            self._type_error(value, gotype, where)
            return current
        if isinstance(gotype, ListOf):
            return [self.convert(item, gotype.item, _zero(gotype.item), where) for item in value]
        if isinstance(gotype, MapOf):
            merged = dict(current) if isinstance(current, dict) else {}
            for key, item in value.items():
                merged[key] = self.convert(item, gotype.value, merged.get(key, _zero(gotype.value)), where)
            return merged
        if isinstance(gotype, Struct):
            return self.struct(value, gotype, current if isinstance(current, dict) else gotype.zero())
        if gotype is INT64:
            return int(value)
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
