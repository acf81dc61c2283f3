"""The one exception the configuration module raises."""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration file that cannot be used.

    The message is meant for the operator and names the file, the module, the key and what was
    expected, e.g. ``node.yaml: module Pack, key 'port': expected an integer from 1 to 65535,
    got 'abc'``. The same facts are kept as attributes for programs: ``source``, ``module``,
    ``key`` and ``line`` (1-based, of the offending YAML node when known; else None).
    """

    def __init__(self, message: str, *, source: str | None = None, module: str | None = None,
                 key: str | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.source = source
        self.module = module
        self.key = key
        self.line = line


class Invalid(Exception):
    """Raised by an option's converter or a module's cross-option check (internal).

    ``text`` says what was expected and what was got; ``key`` (for module checks) names the
    option at fault, or None when the fault is the module's as a whole.
    """

    def __init__(self, text: str, key: str | None = None):
        super().__init__(text)
        self.text = text
        self.key = key
