"""Records: kgen's immutable value types (the model, the plan, the tables' rows, results).

``@record`` makes a dataclass that behaves as ``@dataclass(frozen=True)`` makes it: the same
``__init__`` (defaults, ``field(default_factory=...)``, ``__post_init__``), assigning to or deleting a
field raises ``FrozenInstanceError``, equality and hashing go by the compared fields, the same
``repr``, and ``dataclasses.fields``, ``replace`` and ``asdict`` work on it. tests/test_records.py
holds each case twice, once per decorator, and compares every answer.

Why not ``@dataclass(frozen=True)`` itself: on Python 3.11, kgen's lowest version (Debian 12's), the
dataclass decorator compiles each method it generates on its own, about 0.2 ms apiece, six of them for
a frozen class. ``kgen render`` defines about 60 records before it does any work, so that compiling
was about half of kgen's own import time, and start-up counts against issue 12's target (rendering the
example costs at most 1.5x a bare import of kgen's dependencies, ``bench/bench.py``). Here the
dataclass machinery still reads the fields (and checks them, e.g. for mutable defaults); ``record``
compiles one ``__init__`` per class, the same code the decorator writes for a frozen class, and every
record shares the five other methods, written once below. Python 3.13 compiles a dataclass's methods
in one go; once kgen requires 3.13, ``record`` can become ``dataclass(frozen=True)`` again.

What a record does not take (a TypeError at import says so): its own ``__init__``, ``__eq__``,
``__hash__``, ``__repr__``, ``__setattr__`` or ``__delattr__``, and ``kw_only``, ``init=False`` and ``InitVar``
fields; such a class uses ``@dataclass(frozen=True)`` (as ``Version`` does for ``order=True``).
An undecorated subclass inherits its parent's fields and methods, as with dataclasses. One visible
difference: ``__dataclass_params__.frozen`` is False, since the frozen guards are not the decorator's."""

from __future__ import annotations

import dataclasses
import inspect
import reprlib
from collections.abc import Callable
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T", bound=type)

# The methods a record is given; a class that writes one of them itself is no record.
GIVEN_METHODS = ("__init__", "__eq__", "__hash__", "__repr__", "__setattr__", "__delattr__")


class _FactoryDefault:
    """The default of a parameter whose field has a ``default_factory`` (dataclasses'
    ``_HAS_DEFAULT_FACTORY``): ``__init__`` calls the factory when it sees this."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _FactoryDefault()


def _values(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """The tuple of the named fields' values, as the generated methods build it (C code from
    ``attrgetter``, which returns a bare value for one name and cannot take none)."""
    if not names:
        return lambda _instance: ()
    if len(names) == 1:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return attrgetter(*names)  # several names: a tuple


def _eq(self: Any, other: Any) -> Any:
    if other.__class__ is self.__class__:
        return self.__record_compared__(self) == self.__record_compared__(other)
    return NotImplemented


def _hash(self: Any) -> int:
    return hash(self.__record_hashed__(self))


@reprlib.recursive_repr()
def _repr(self: Any) -> str:
    shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__record_shown__)
    return f"{self.__class__.__qualname__}({shown})"


def _setattr(self: Any, name: str, value: Any) -> None:
    # As the frozen guard dataclasses writes: on the record class itself every name is refused, on an
    # undecorated subclass only the fields.
    owner = self.__record_class__
    if type(self) is owner or name in self.__record_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
    super(owner, self).__setattr__(name, value)


def _delattr(self: Any, name: str) -> None:
    owner = self.__record_class__
    if type(self) is owner or name in self.__record_fields__:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
    super(owner, self).__delattr__(name)


def _init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The ``__init__`` that ``dataclass(frozen=True)`` writes for these fields: each value set with
    ``object.__setattr__`` (the frozen guard refuses ``self.name = value``), factories called for
    missing values, then ``__post_init__`` if the class has one."""
    params, body = [], []
    scope: dict[str, Any] = {"__record_setattr__": object.__setattr__, "__record_factory__": _FACTORY}
    seen_default = False
    for field in fields:
        name = field.name
        scope[f"__record_type_{name}__"] = field.type
        param, value = f"{name}:__record_type_{name}__", name
        if field.default_factory is not dataclasses.MISSING:
            scope[f"__record_make_{name}__"] = field.default_factory
            param += "=__record_factory__"
            value = f"__record_make_{name}__() if {name} is __record_factory__ else {name}"
            seen_default = True
        elif field.default is not dataclasses.MISSING:
            scope[f"__record_default_{name}__"] = field.default
            param += f"=__record_default_{name}__"
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {name!r} follows default argument")
        params.append(param)
        body.append(f"  __record_setattr__(self, {name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append("  self.__post_init__()")
    source = f"def __init__(self, {', '.join(params)}) -> None:\n" + ("\n".join(body) or "  pass") + "\n"
    namespace: dict[str, Any] = {}
    # dont_inherit: this module's `from __future__ import annotations` would leave the annotations strings.
    code = compile(source, f"<record {cls.__qualname__}>", "exec", dont_inherit=True)
    exec(code, scope, namespace)  # noqa: S102 - the source is built from kgen's own field names
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: _T) -> _T:
    """``cls`` as a frozen record (see the module docstring)."""
    own = [name for name in GIVEN_METHODS if cls.__dict__.get(name) is not None]
    if own:
        raise TypeError(f"{cls.__qualname__} defines {', '.join(own)}: use @dataclass(frozen=True), not @record")
    documented = bool(cls.__dict__.get("__doc__"))
    # eq=False: no __eq__ or __hash__ of the decorator's; init=False and frozen=False: no compiled
    # __init__, __setattr__ or __delattr__ of its own (record gives its own below).
    made: Any = dataclasses.dataclass(init=False, repr=False, eq=False)(cls)  # the same class, changed
    fields = dataclasses.fields(made)
    for field in fields:
        if field.kw_only or not field.init:
            raise TypeError(f"{cls.__qualname__}.{field.name}: a record takes no kw_only or init=False fields")
    pseudo = set(made.__dataclass_fields__) - {field.name for field in fields}
    if any("ClassVar" not in str(made.__dataclass_fields__[name].type) for name in pseudo):
        raise TypeError(f"{cls.__qualname__}: a record takes no InitVar fields")
    # The rules of dataclasses._process_class: compare=False leaves a field out of __eq__ and, with
    # hash=None, out of __hash__; hash=True/False overrides compare for __hash__ alone.
    compared = tuple(f.name for f in fields if f.compare)
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash))
    shared = {
        "__init__": _init(made, fields),
        # staticmethod: a getter stored on the class must not bind to the instance.
        "__record_compared__": staticmethod(_values(compared)),
        "__record_hashed__": staticmethod(_values(hashed)),
        "__record_shown__": tuple(f.name for f in fields if f.repr),
        "__record_fields__": frozenset(f.name for f in fields),
        "__record_class__": made,
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
        "__setattr__": _setattr,
        "__delattr__": _delattr,
    }
    for name, value in shared.items():
        setattr(made, name, value)
    if not documented:  # the decorator's signature line, now that __init__ is in place
        made.__doc__ = made.__name__ + str(inspect.signature(made)).replace(" -> None", "")
    return cls
