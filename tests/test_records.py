"""``@record`` (generator/records.py) behaves as ``@dataclass(frozen=True)``: each case defines the same
class body twice, once with each decorator, and the two must answer every question alike."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import generator
from generator.records import GIVEN_METHODS, record


def twins(body: Callable[[Callable[[type], type]], type]) -> tuple[type, type]:
    """The class ``body`` makes, once decorated by the standard library and once by ``record``."""
    return body(dataclasses.dataclass(frozen=True)), body(record)


def plain(decorate: Callable[[type], type]) -> type:
    @decorate
    class Endpoint:
        host: str
        port: int = 6443
        tags: tuple[str, ...] = ()

    return Endpoint


def empty(decorate: Callable[[type], type]) -> type:
    @decorate
    class Nothing:
        pass

    return Nothing


def one_field(decorate: Callable[[type], type]) -> type:
    @decorate
    class Name:
        value: str

    return Name


def field_flags(decorate: Callable[[type], type]) -> type:
    @decorate
    class Secretive:
        name: str
        token: str = dataclasses.field(repr=False)
        note: str = dataclasses.field(default="", compare=False)
        weight: int = dataclasses.field(default=0, hash=False)
        salt: int = dataclasses.field(default=0, compare=False, hash=True)
        items: list[int] = dataclasses.field(default_factory=list)

    return Secretive


def subclassed(decorate: Callable[[type], type]) -> type:
    """An undecorated subclass, as generator/placeholder.py's PlaceholderBundle is."""

    @decorate
    class Base:
        name: str
        size: int = 1

    class Child(Base):
        def describe(self) -> str:
            return f"{self.name}/{self.size}"

    return Child


def extended(decorate: Callable[[type], type]) -> type:
    """A decorated subclass that adds a field."""

    @decorate
    class Base:
        name: str

    @decorate
    class Wider(Base):
        zone: str = "nova"

    return Wider


def post_init(decorate: Callable[[type], type]) -> type:
    @decorate
    class Normalized:
        host: str

        def __post_init__(self) -> None:
            object.__setattr__(self, "host", self.host.lower())

    return Normalized


# Per case: the class, and argument sets for instances (equal and unequal ones among them).
CASES: dict[str, tuple[Callable[[Callable[[type], type]], type], list[tuple[tuple[Any, ...], dict[str, Any]]]]] = {
    "plain": (plain, [(("a",), {}), (("a", 6443), {}), (("a", 1), {}), (("b",), {"tags": ("x", "y")})]),
    "empty": (empty, [((), {})]),
    "one-field": (one_field, [(("a",), {}), (("b",), {}), (("a",), {})]),
    "field-flags": (
        field_flags,
        [
            (("n", "secret-1"), {}),
            (("n", "secret-1"), {"note": "other"}),
            (("n", "secret-1"), {"weight": 2}),
            (("n", "secret-1"), {"salt": 3}),
            (("n", "secret-2"), {"items": [1, 2]}),
        ],
    ),
    "undecorated-subclass": (subclassed, [(("a",), {}), (("a", 2), {}), (("a",), {})]),
    "decorated-subclass": (extended, [(("a",), {}), (("a", "other"), {}), (("b",), {})]),
    "post-init": (post_init, [(("Host",), {}), (("host",), {}), (("other",), {})]),
}


def outcome(action: Callable[[], object]) -> object:
    """What ``action`` returns, or the error it raises as text: the outcome is what is compared."""
    try:
        return action()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def same_answers(stdlib: type, ours: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    a, b = stdlib(*args, **kwargs), ours(*args, **kwargs)
    assert repr(b) == repr(a)
    assert outcome(lambda: hash(b)) == outcome(lambda: hash(a))  # a field holding a list: both raise
    assert dataclasses.asdict(b) == dataclasses.asdict(a)
    assert dataclasses.astuple(b) == dataclasses.astuple(a)
    assert [f.name for f in dataclasses.fields(b)] == [f.name for f in dataclasses.fields(a)]
    assert type(b).__match_args__ == type(a).__match_args__
    assert str(inspect.signature(ours)) == str(inspect.signature(stdlib))
    assert ours.__doc__ == stdlib.__doc__
    assert b == ours(*args, **kwargs)
    assert b != a  # another class: never equal, as between two dataclasses
    assert (b == a) is (a == b) is False
    assert b.__eq__(object()) is NotImplemented
    for name in (f.name for f in dataclasses.fields(b)):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(b, name, None)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(b, name)
    # A name that is no field: refused on the decorated class itself, allowed on an undecorated subclass.
    assert outcome(lambda: setattr(b, "extra", 1)) == outcome(lambda: setattr(a, "extra", 1))
    assert outcome(lambda: delattr(b, "extra")) == outcome(lambda: delattr(a, "extra"))
    assert copy.deepcopy(b) == b
    if dataclasses.fields(b):
        first = dataclasses.fields(b)[0].name
        assert repr(dataclasses.replace(b, **{first: getattr(b, first)})) == repr(b)


@pytest.mark.parametrize("case", CASES)
def test_a_record_answers_as_a_frozen_dataclass(case: str) -> None:
    body, arg_sets = CASES[case]
    stdlib, ours = twins(body)
    for args, kwargs in arg_sets:
        same_answers(stdlib, ours, args, kwargs)
    # Equality and hashing agree with the standard library's between every pair of instances.
    for left_args, left_kwargs in arg_sets:
        for right_args, right_kwargs in arg_sets:
            expected = stdlib(*left_args, **left_kwargs) == stdlib(*right_args, **right_kwargs)
            assert (ours(*left_args, **left_kwargs) == ours(*right_args, **right_kwargs)) is expected
            assert (ours(*left_args, **left_kwargs) != ours(*right_args, **right_kwargs)) is not expected


def test_a_record_that_holds_itself_prints_an_ellipsis_as_a_dataclass_does() -> None:
    stdlib, ours = twins(lambda decorate: decorate(type("Box", (), {"__annotations__": {"items": list}})))
    a, b = stdlib([]), ours([])
    a.items.append(a)
    b.items.append(b)
    assert repr(b) == repr(a) == "Box(items=[...])"


def test_a_record_hashes_as_its_compared_fields_and_works_as_a_key() -> None:
    ours = one_field(record)
    assert hash(ours("a")) == hash(("a",))
    assert {ours("a"): 1}[ours("a")] == 1


@pytest.mark.parametrize("method", GIVEN_METHODS)
def test_a_record_may_not_define_the_methods_it_is_given(method: str) -> None:
    namespace: dict[str, Any] = {"__annotations__": {"name": str}, method: lambda self, *args: 0}
    with pytest.raises(TypeError, match=rf"Own defines {method}.*use @dataclass\(frozen=True\), not @record"):
        record(type("Own", (), namespace))


def default_first(decorate: Callable[[type], type]) -> type:
    @decorate
    class Wrong:
        port: int = 6443
        host: str

    return Wrong


def test_a_field_without_a_default_after_one_with_is_refused_alike() -> None:
    assert (
        outcome(lambda: default_first(record))
        == outcome(lambda: default_first(dataclasses.dataclass(frozen=True)))
        == "TypeError: non-default argument 'host' follows default argument"
    )


@pytest.mark.parametrize(
    ("annotations", "namespace", "message"),
    [
        ({"a": int}, {"a": dataclasses.field(kw_only=True)}, "Odd.a: a record takes no kw_only or init=False fields"),
        ({"a": int}, {"a": dataclasses.field(init=False, default=0)}, "Odd.a: a record takes no kw_only"),
        ({"a": dataclasses.InitVar[int]}, {}, "Odd: a record takes no InitVar fields"),
    ],
)
def test_what_a_record_does_not_take_is_refused(
    annotations: dict[str, Any], namespace: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        record(type("Odd", (), {"__annotations__": annotations, **namespace}))


def test_a_class_var_is_no_field_of_a_record() -> None:
    ours = record(type("Table", (), {"__annotations__": {"rows": ClassVar[int], "name": str}, "rows": 3}))
    assert [f.name for f in dataclasses.fields(ours)] == ["name"]
    assert ours("x").rows == 3


def kgen_classes() -> list[type]:
    classes = []
    for info in pkgutil.walk_packages(generator.__path__, "generator."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        classes += [
            value for value in vars(module).values() if isinstance(value, type) and value.__module__ == info.name
        ]
    return classes


def hand_written(cls: type, name: str) -> bool:
    """Whether the class body defines ``name`` (the dataclass decorator's methods are compiled from
    strings: their code's file name is ``<string>``; ``__repr__`` is wrapped in a recursion guard)."""
    method = cls.__dict__.get(name)
    code = getattr(inspect.unwrap(method), "__code__", None) if method is not None else None
    return code is not None and code.co_filename != "<string>"


def test_kgen_makes_its_frozen_value_types_with_record() -> None:
    """The convention the start-up figure rests on: a frozen dataclass in generator/ is a record unless it
    needs what a record cannot give (order=True, or methods of its own among GIVEN_METHODS)."""
    classes = kgen_classes()
    records = [cls for cls in classes if "__record_compared__" in cls.__dict__]
    assert len(records) > 50
    plain_frozen = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in classes
        if dataclasses.is_dataclass(cls)
        and "__dataclass_params__" in cls.__dict__
        and cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        and not cls.__dataclass_params__.order  # type: ignore[attr-defined]
        and "__record_compared__" not in cls.__dict__
        and not any(hand_written(cls, name) for name in GIVEN_METHODS)
    ]
    assert plain_frozen == [], "use @record (generator/records.py) for these frozen dataclasses"
