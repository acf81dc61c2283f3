"""LXD's ``filter=`` query parameter (API extension ``api_filtering``) for lists.

The grammar is LXD's: ``[not] FIELD eq|ne VALUE`` clauses joined by ``and`` / ``or`` and
evaluated left to right; a value with spaces is written in double quotes. A field is a
JSON field of the listed object; ``config.KEY`` reaches into a map; a list field matches
``eq`` when any element equals the value.
"""
from __future__ import annotations

from dataclasses import dataclass

from mockserver.errors import bad_request

OPERATORS = ("eq", "ne")
LOGICAL = ("and", "or")


@dataclass
class Clause:
    negate: bool
    field: str
    operator: str
    value: str
    logical: str  # how it combines with the result so far


def parse(text: str) -> list[Clause]:
    """Raises: ApiError 400 naming what is wrong with the expression."""
    parts = text.split()
    clauses, index, logical = [], 0, "and"

    def need(what: str) -> str:
        if index >= len(parts):
            raise bad_request(f"Invalid filter: {what} (in {text!r})")
        return parts[index]

    while index < len(parts):
        negate = parts[index].lower() == "not"
        if negate:
            index += 1
        field = need("clause has no field")
        index += 1
        operator = need("clause has no operator").lower()
        if operator not in OPERATORS:
            raise bad_request(f"Invalid filter: unsupported operator {operator!r} (use eq or ne)")
        index += 1
        value = need("clause has no value")
        if value.startswith('"'):
            words = [value[1:]]
            while not words[-1].endswith('"') or (len(words) == 1 and words[0] == ""):
                index += 1
                words.append(need("unterminated quote"))
            value = " ".join(words)[:-1]
        index += 1
        clauses.append(Clause(negate, field, operator, value, logical))
        if index < len(parts):
            logical = parts[index].lower()
            if logical not in LOGICAL:
                raise bad_request(f"Invalid filter: expected and/or, got {parts[index]!r}")
            index += 1
            need("unterminated compound clause")
    return clauses


def _lookup(obj: dict, field: str):
    if field in obj:
        return obj[field]
    head, _, rest = field.partition(".")
    if rest and isinstance(obj.get(head), dict):
        return obj[head].get(rest)
    raise bad_request(f"Invalid filter: unknown field {field!r}")


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _matches(obj: dict, clause: Clause) -> bool:
    value = _lookup(obj, clause.field)
    if isinstance(value, list):
        equal = clause.value in [_text(item) for item in value]
    else:
        equal = _text(value) == clause.value
    result = equal if clause.operator == "eq" else not equal
    return not result if clause.negate else result


def select(objects: list[dict], text: str | None) -> list[dict]:
    """The objects that match ``text`` (all of them when there is no filter)."""
    if not text:
        return objects
    clauses = parse(text)
    chosen = []
    for obj in objects:
        result = True
        for clause in clauses:
            matched = _matches(obj, clause)
            result = (result and matched) if clause.logical == "and" else (result or matched)
        if result:
            chosen.append(obj)
    return chosen
