"""The one place where model fields are mapped to and from LXD's JSON.

A model declares its fields with :func:`wire_field`, in the order LXD
serialises them; :class:`WireModel` then provides ``from_api`` and ``to_api``
for every model. Keys the model does not know are kept in ``extra`` and written
back by ``to_api``, so that saving an object read from a newer server does not
drop fields this SDK has never heard of.
"""

from __future__ import annotations

import copy
import linecache
import operator
from typing import Any, Callable, Iterable, Mapping, TypeVar

import attrs

from pylxd_cluster.exceptions import ClusterError, FrozenModelError
from pylxd_cluster.timestamps import Timestamp, format_timestamp, parse_timestamp

__all__ = [
    "WireModel",
    "ServerModel",
    "frozen_model",
    "wire_field",
    "as_str",
    "as_bool",
    "as_int",
    "as_tuple",
    "as_dict",
    "as_timestamp",
    "nested",
    "nested_tuple",
    "ModelList",
    "SECRET_MASK",
    "hide_secrets",
    "masked_repr",
]

_WIRE = "pylxd_cluster.wire"

ModelT = TypeVar("ModelT", bound="WireModel")


@attrs.frozen
class _WireSpec:
    name: str | None
    decode: Callable[[Any], Any]
    encode: Callable[[Any], Any]
    writable: bool
    omit_if_none: bool


_SCALARS = (str, int, float, bool, type(None))


def copy_json(value: Any) -> Any:
    """Copy decoded JSON (dicts, lists, scalars): much cheaper than copy.deepcopy."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict):
        return {key: item if type(item) in _SCALARS else copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [item if type(item) in _SCALARS else copy_json(item) for item in value]
    return copy.deepcopy(value)


#: What displays show instead of a secret (a join token's, or one in an operation's metadata).
SECRET_MASK = "<hidden>"
_SECRET_KEYS = frozenset({"secret", "token"})


def hide_secrets(value: Any) -> Any:
    """A copy of decoded JSON with the value of every ``secret`` (and ``token``) key, at any
    depth, replaced by :data:`SECRET_MASK`: for displays of operations and events, whose
    metadata carries a join token's secret."""
    if isinstance(value, Mapping):
        return {key: (SECRET_MASK if key in _SECRET_KEYS and item not in (None, "") else hide_secrets(item))
                for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [hide_secrets(item) for item in value]
    return value


def masked_repr(model: Any, **shown: Any) -> str:
    """attrs' ``repr()`` of ``model``, with the values in ``shown`` (by field name) shown in place
    of the real ones: ``masked_repr(token, secret=SECRET_MASK)``."""
    parts = []
    for field in attrs.fields(type(model)):
        if field.repr is False:
            continue
        value = shown[field.name] if field.name in shown else getattr(model, field.name)
        parts.append(f"{field.name}={value!r}")
    return f"{type(model).__name__}({', '.join(parts)})"


def _identity(value: Any) -> Any:
    return copy_json(value)


def as_str(value: Any) -> str:
    if type(value) is str:
        return value
    return "" if value is None else str(value)


def as_bool(value: Any) -> bool:
    return bool(value)


def as_int(value: Any) -> int:
    return 0 if value is None else int(value)


def as_tuple(value: Any) -> tuple[Any, ...]:
    """JSON list (or null, which Go writes for an empty slice) -> tuple."""
    return tuple(value) if value is not None else ()


def _copy_dict_of(value: Any) -> dict[str, Any]:
    """A copy of a JSON object (or of any mapping, made a dict first), as :func:`copy_json`
    makes it: scalar values are taken as they are without a call each."""
    if type(value) is not dict:
        value = dict(value)
    return {key: item if type(item) in _SCALARS else copy_json(item) for key, item in value.items()}


def as_dict(value: Any) -> dict[str, Any]:
    return _copy_dict_of(value) if value is not None else {}


def as_timestamp(value: Any) -> Timestamp | None:
    return parse_timestamp(value)


def _encode_tuple(value: Iterable[Any]) -> list:
    return list(value)


def _encode_timestamp(value: Any) -> str:
    return format_timestamp(value)


def nested(model: type) -> tuple[Callable, Callable]:
    """(decode, encode) for a field holding one nested model."""
    return (lambda value: model.from_api(value or {})), (lambda value: value.to_api())


def nested_tuple(model: type) -> tuple[Callable, Callable]:
    """(decode, encode) for a field holding a list of nested models."""
    return (
        (lambda value: tuple(model.from_api(item) for item in (value or ()))),
        (lambda value: [item.to_api() for item in value]),
    )


_DEFAULT_CODECS: dict[Any, tuple[Callable, Callable]] = {
    as_tuple: (as_tuple, _encode_tuple),
    as_timestamp: (as_timestamp, _encode_timestamp),
}


def wire_field(
    wire: str | None = None,
    *,
    decode: Callable[[Any], Any] = _identity,
    encode: Callable[[Any], Any] | None = None,
    codec: tuple[Callable, Callable] | None = None,
    default: Any = attrs.NOTHING,
    factory: Callable[[], Any] | None = None,
    writable: bool = False,
    omit_if_none: bool = False,
) -> Any:
    """Declare a model field that maps to the JSON key ``wire`` (default: the attribute name).

    ``decode`` turns the JSON value into the Python value and ``encode`` does the
    reverse (tuple and timestamp decoders bring their encoder along); ``codec`` gives
    both at once (see :func:`nested`). ``writable`` marks the fields a PUT sends.
    ``omit_if_none`` leaves the key out of ``to_api`` when the value is None
    (for keys that only some servers send).
    """
    if codec is not None:
        decode, encode = codec
    elif encode is None:
        decode, encode = _DEFAULT_CODECS.get(decode, (decode, _identity))
    spec = _WireSpec(wire, decode, encode, writable, omit_if_none)
    if factory is not None:
        return attrs.field(factory=factory, metadata={_WIRE: spec})
    return attrs.field(default=default, metadata={_WIRE: spec})


def _wire_fields(cls: type) -> Iterable[tuple[attrs.Attribute, _WireSpec]]:
    for field in attrs.fields(cls):
        spec = field.metadata.get(_WIRE)
        if spec is not None:
            yield field, spec


def _wire_name(field: attrs.Attribute, spec: _WireSpec) -> str:
    return spec.name or field.name


@attrs.frozen
class _BuildPlan:
    """How from_api builds one model class, worked out once per class (the generic path, and
    the decoders that :meth:`WireModel._decode_error` retries to name a bad field)."""

    steps: tuple       # (attribute, wire key, decoder, type that needs no decoding)
    known: frozenset   # wire keys with a field
    defaults: dict     # attribute -> immutable default
    factories: tuple   # (attribute, factory) for defaults built per instance
    required: tuple    # attributes without a default


_BUILD_PLANS: dict[type, _BuildPlan] = {}
_ABSENT = object()
_TAKEN_AS_IS = {as_str: str, as_bool: bool, as_int: int}


def _build_plan(cls: type) -> _BuildPlan:
    plan = _BUILD_PLANS.get(cls)
    if plan is None:
        steps = tuple((field.name, _wire_name(field, spec), spec.decode, _TAKEN_AS_IS.get(spec.decode))
                      for field, spec in _wire_fields(cls))
        defaults, factories, required = {}, [], []
        for field in attrs.fields(cls):
            if isinstance(field.default, attrs.Factory) and not field.default.takes_self:
                factories.append((field.name, field.default.factory))
            elif field.default is attrs.NOTHING or isinstance(field.default, attrs.Factory):
                required.append(field.name)
            else:
                defaults[field.name] = field.default
        plan = _BUILD_PLANS[cls] = _BuildPlan(steps, frozenset(step[1] for step in steps), defaults,
                                              tuple(factories), tuple(required))
    return plan


def _not_mapping(cls: type, data: Any) -> ClusterError:
    return ClusterError(f"cannot build {cls.__name__} from {type(data).__name__}: {str(data)[:200]!r}")


def _build_generic(cls: type, data: Mapping[str, Any], manager: Any, etag: str | None) -> Any:
    """from_api for a class the compiled builder does not cover (a field without a default,
    an ``init=False`` field, a ``_context`` of its own): the plan, step by step."""
    if not isinstance(data, Mapping):
        raise _not_mapping(cls, data)
    plan = _build_plan(cls)
    values: dict[str, Any] = dict(plan.defaults)
    try:
        for name, key, decode, as_is in plan.steps:
            value = data.get(key, _ABSENT)
            if value is not _ABSENT:
                values[name] = value if type(value) is as_is else decode(value)
    except (TypeError, ValueError):
        raise cls._decode_error(data) from None
    values["extra"] = {} if plan.known.issuperset(data) else {
        key: copy_json(value) for key, value in data.items() if key not in plan.known}
    values.update(cls._context(manager, etag))
    for name, factory in plan.factories:
        if name not in values:
            values[name] = factory()
    if plan.required and any(name not in values for name in plan.required):
        # attrs' own __init__ (which takes aliases: "manager" for "_manager") names what is missing
        return cls(**{field.alias: values[field.name] for field in attrs.fields(cls) if field.name in values})
    model = object.__new__(cls)
    model.__dict__.update(values)
    return model


#: The compiled builder of each model class: ``builder(data, manager, etag) -> model``.
_BUILDERS: dict[type, Callable[[Mapping[str, Any], Any, Any], Any]] = {}


def _compile_builder(cls: type) -> Callable[[Mapping[str, Any], Any, Any], Any]:
    """Write (once per class) the Python function that builds ``cls`` from a JSON object.

    from_api runs for every object of every list a server returns, so it does not go through
    the generated ``__init__`` (an ``object.__setattr__`` per field, for frozen classes) nor a
    loop over the fields: like attrs' own ``__init__``, a function is written for the class
    with one line per field, which reads the wire key, keeps a value already of the field's
    type (most strings, booleans and integers), decodes the others, fills the default of a
    missing key, and sets the instance's ``__dict__`` in one step. Models are dict-backed
    (``slots=False``) for this; user code still builds them with ``__init__`` and ``evolve()``.
    The result is the same as the generic path's (:func:`_build_generic`), which classes with
    a field this does not cover still take.
    """
    fields = attrs.fields(cls)
    context = getattr(cls._context, "__func__", None)
    # What the two _context methods of this module give: no attribute, or the reader's manager
    # and ETag (a class with a _context of its own takes the generic path).
    known_context = {WireModel.__dict__["_context"].__func__: (),
                     ServerModel.__dict__["_context"].__func__: ("_manager", "etag")}
    simple = context in known_context and all(
        field.init and field.default is not attrs.NOTHING
        and not (isinstance(field.default, attrs.Factory) and field.default.takes_self)
        and not (field.name == "extra" and _WIRE in field.metadata)
        for field in fields)
    if not simple:
        return lambda data, manager, etag: _build_generic(cls, data, manager, etag)
    contextual = dict(zip(known_context[context], ("manager", "etag")))
    names: dict[str, Any] = {"_cls": cls, "_A": _ABSENT, "_new": object.__new__, "_set": object.__setattr__,
                             "_dict": dict, "_tuple": tuple, "_type": type, "_SCALARS": _SCALARS,
                             "_copy_json": copy_json, "_as_dict": _copy_dict_of}
    by_subscript, by_get, entries, known, read = [], [], [], [], []
    for number, field in enumerate(fields):
        spec = field.metadata.get(_WIRE)
        if field.name in contextual:
            entries.append(f"{field.name!r}: {contextual[field.name]}")
            continue
        if field.name == "extra" and spec is None:
            entries.append("'extra': extra")
            continue
        if isinstance(field.default, attrs.Factory):
            names[f"_F{number}"] = field.default.factory
            missing = f"_F{number}()"
        else:
            names[f"_D{number}"] = field.default
            missing = f"_D{number}"
        local = f"f{number}"
        entries.append(f"{field.name!r}: {local}")
        if spec is None:
            by_subscript.append(f"{local} = {missing}")
            by_get.append(f"{local} = {missing}")
            continue
        key = _wire_name(field, spec)
        known.append(key)
        decode = spec.decode
        if decode is as_tuple:
            value = "() if {v} is None else _tuple({v})"
        elif decode is as_dict:
            value = ("(_as_dict({v}) if {v} else {{}}) if _type({v}) is _dict "
                     "else ({{}} if {v} is None else _as_dict({v}))")
        elif decode is _identity:
            value = "{v} if _type({v}) in _SCALARS else _copy_json({v})"
        elif decode in _TAKEN_AS_IS:
            names[f"_T{number}"], names[f"_C{number}"] = _TAKEN_AS_IS[decode], decode
            value = f"{{v}} if _type({{v}}) is _T{number} else _C{number}({{v}})"
        else:
            # (as_timestamp is parse_timestamp: one call less per timestamp)
            names[f"_C{number}"] = parse_timestamp if decode is as_timestamp else decode
            value = f"_C{number}({{v}})"
        read.append(local)
        by_subscript.append(f"{local} = {value.format(v=local)}")
        by_get.append(f"v = get({key!r}, _A)")
        by_get.append(f"{local} = {missing} if v is _A else ({value.format(v='v')})")
    if len(known) > 1:
        # One C call reads every key (a KeyError if one is missing).
        names["_read"] = operator.itemgetter(*known)
        by_subscript.insert(0, f"{', '.join(read)} = _read(data)")
    elif known:
        by_subscript.insert(0, f"{read[0]} = data[{known[0]!r}]")
    names["_unknown"] = frozenset(known)
    names["_size"] = len(names["_unknown"])
    names["_Mapping"], names["_not_mapping"] = Mapping, _not_mapping
    # The constants are variables of an enclosing function: cells, faster to read than globals.
    source = (
        f"def make({', '.join(names)}):\n"
        "  def build(data, manager, etag):\n"
        # The usual reply: exactly the keys the model knows (so no extra), read by subscript; with
        # as many keys, a missing one (KeyError) means another key in its place.
        "    exact = _type(data) is _dict and len(data) == _size\n"
        "    if exact:\n"
        "        try:\n"
        + "".join(f"            {line}\n" for line in by_subscript or ["pass"]) +
        "        except KeyError:\n"
        "            exact = False\n"
        "        except (TypeError, ValueError):\n"
        "            raise _cls._decode_error(data) from None\n"
        "        extra = {}\n"
        "    if not exact:\n"
        "        if not isinstance(data, _Mapping):\n"
        "            raise _not_mapping(_cls, data)\n"
        "        get = data.get\n"
        "        try:\n"
        + "".join(f"            {line}\n" for line in by_get or ["pass"]) +
        "        except (TypeError, ValueError):\n"
        "            raise _cls._decode_error(data) from None\n"
        "        extra = {key: _copy_json(value) for key, value in data.items() if key not in _unknown}\n"
        "    model = _new(_cls)\n"
        f"    _set(model, '__dict__', {{{', '.join(entries)}}})\n"
        "    return model\n"
        "  return build\n"
    )
    filename = f"<from_api of {cls.__module__}.{cls.__qualname__}>"
    # Tracebacks through the builder show its lines, as attrs does for the methods it writes.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102
    builder = namespace["make"](**names)
    builder.source = source
    return builder


def _refuse_setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenModelError(type(self).__name__, name, saved=callable(getattr(type(self), "save", None)))


def _refuse_delattr(self: Any, name: str) -> None:
    raise FrozenModelError(type(self).__name__, name, saved=callable(getattr(type(self), "save", None)))


def frozen_model(cls: type[ModelT]) -> type[ModelT]:
    """Declare a model: ``attrs.frozen(kw_only=True, slots=False)``, whose instances refuse
    assignment with a :class:`~pylxd_cluster.exceptions.FrozenModelError` that says to use
    ``evolve()`` (and ``save()``), rather than attrs' bare ``FrozenInstanceError``."""
    cls = attrs.frozen(kw_only=True, slots=False)(cls)
    cls.__setattr__ = _refuse_setattr  # type: ignore[method-assign,assignment]
    cls.__delattr__ = _refuse_delattr  # type: ignore[method-assign,assignment]
    return cls


@frozen_model
class WireModel:
    """Base of every model: fields mapped to LXD's JSON, unknown keys kept in ``extra``."""

    #: Keys the server sent that this model has no field for; written back by to_api().
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def _context(cls, manager: Any, etag: str | None) -> dict[str, Any]:
        """Attributes (by attribute name) that come from the reader, not the wire."""
        return {}

    @classmethod
    def from_api(
        cls: type[ModelT],
        data: Mapping[str, Any],
        manager: Any = None,
        etag: str | None = None,
    ) -> ModelT:
        """Build the model from a JSON object as LXD sends it.

        Missing keys take the field's default; unknown keys go to ``extra``.

        Raises:
            ClusterError: ``data`` is not a JSON object, or a value cannot be decoded
                (e.g. a malformed timestamp).
        """
        # (The builder checks that data is a mapping.)
        try:
            builder = _BUILDERS[cls]
        except KeyError:
            builder = _BUILDERS[cls] = _compile_builder(cls)
        return builder(data, manager, etag)

    @classmethod
    def _decode_error(cls, data: Mapping[str, Any]) -> ClusterError:
        """Name the field whose value could not be decoded (the slow path, on failure only)."""
        for name, key, decode, _ in _build_plan(cls).steps:
            if key in data:
                try:
                    decode(data[key])
                except (TypeError, ValueError) as exc:
                    return ClusterError(f"cannot read {cls.__name__}.{name} from {key}={data[key]!r}: {exc}")
        return ClusterError(f"cannot build {cls.__name__} from {str(data)[:200]!r}")

    def _render(self, writable_only: bool) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        for field, spec in _wire_fields(type(self)):
            if writable_only and not spec.writable:
                continue
            value = getattr(self, field.name)
            if value is None and spec.omit_if_none:
                continue
            rendered[_wire_name(field, spec)] = None if value is None else spec.encode(value)
        rendered.update(copy_json(dict(self.extra)))
        return rendered

    def to_api(self) -> dict[str, Any]:
        """The JSON object for this model: fields in LXD's order, then ``extra``."""
        return self._render(writable_only=False)

    def to_put(self) -> dict[str, Any]:
        """The body of a PUT: the writable fields, then ``extra``.

        ``extra`` is included because a PUT replaces the object: a field this SDK
        does not know could be writable on a newer server, and leaving it out
        would reset it.
        """
        return self._render(writable_only=True)

    def evolve(self: ModelT, **changes: Any) -> ModelT:
        """A copy with ``changes`` applied (models are frozen); e.g. ``m.evolve(description="x")``.

        Raises:
            TypeError: a name in ``changes`` is not a field of this model.
        """
        return attrs.evolve(self, **changes)

    def _repr_html_(self) -> str:
        """Jupyter's view: a (field, value) table; models with a better one override it."""
        from pylxd_cluster.display import model_html

        return model_html(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's text view: ``repr()`` (which never shows a secret)."""
        printer.text(repr(self) if not cycle else f"{type(self).__name__}(...)")


class ModelList(tuple):
    """A tuple of models that ``all()`` returns: it compares, indexes and iterates as the
    tuple it is, and adds ``names``, ``by_name()`` and rich display (``_repr_html_``,
    ``_repr_pretty_``). Subclasses say which attribute names an item and how to render."""

    __slots__ = ()

    #: The attribute that names an item, and the nouns of the KeyError message.
    _name_attribute = "name"
    _noun = "object"
    _plural = "objects"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(getattr(item, self._name_attribute) for item in self)

    def by_name(self, name: str) -> Any:
        """The item called ``name``.

        Raises:
            KeyError: no item has that name (the message lists the names there are).
        """
        for item in self:
            if getattr(item, self._name_attribute) == name:
                return item
        raise KeyError(f"no {self._noun} {name!r} ({self._plural}: {', '.join(self.names) or 'none'})")

    def _html(self) -> str:
        from pylxd_cluster.display import models_html

        return models_html(self)

    def _repr_html_(self) -> str:
        return self._html()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self) if not cycle else f"{type(self).__name__}(...)")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list(self)!r})"


@frozen_model
class ServerModel(WireModel):
    """A model that maps to an object on the server.

    It keeps the manager that read it, so that explicit methods (``refresh()``,
    ``save()``...) can delegate to it, and the ETag it was read with, which
    ``save()`` sends back as If-Match. Neither takes part in equality.
    """

    _manager: Any = attrs.field(default=None, eq=False, repr=False)
    etag: str | None = attrs.field(default=None, eq=False, repr=False)

    @classmethod
    def _context(cls, manager: Any, etag: str | None) -> dict[str, Any]:
        return {"_manager": manager, "etag": etag}

    def sync(self: ModelT) -> ModelT:
        """pylxd's name for ``refresh()``: read the object again from the server.

        Unlike pylxd's ``sync()``, which updates the object in place, this returns a NEW
        instance (models are frozen) and leaves this one as it was read: write
        ``member = member.sync()``.

        Raises:
            ClusterError: this kind of object cannot be read again (it has no ``refresh()``),
                or as ``refresh()`` raises (NotFound when it no longer exists ...).
        """
        refresh = getattr(self, "refresh", None)
        if refresh is None:
            raise ClusterError(f"a {type(self).__name__} cannot be read again (it has no refresh())")
        return refresh()

    @property
    def manager(self) -> Any:
        """The manager this object delegates to.

        Raises:
            ClusterError: the object was built without one (e.g. ``from_api(data)``).
        """
        if self._manager is None:
            raise ClusterError(
                f"this {type(self).__name__} was built without a client; read it through "
                "a Client (e.g. client.cluster.members.get(name)) to call server methods"
            )
        return self._manager
