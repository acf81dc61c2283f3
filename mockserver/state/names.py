"""Names and texts as LXD's database stores them."""
from __future__ import annotations


def stored(text: str) -> str:
    """What LXD's database keeps of a string: dqlite passes text NUL-terminated, so a name
    or description is cut at its first NUL (a group created as "z\\x00z" is "z"), and a
    name looked up is cut likewise."""
    return text.split("\x00", 1)[0] if "\x00" in text else text


def stored_map(mapping: dict) -> dict:
    return {stored(key): stored(value) for key, value in mapping.items()}
