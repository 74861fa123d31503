"""Build an ops config from a Dagster config by field name: each field is declared once per
layer and passed on, never copied by hand; tests/assets/test_config_parity.py checks that the
two sides keep the same names, types and defaults."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")


def field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass or pydantic model class, in declaration order."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    if hasattr(cls, "model_fields"):
        return tuple(cls.model_fields)
    raise TypeError(f"{cls!r} is neither a dataclass nor a pydantic model")


def ops_config(ops_cls: type[T], source: Any, **overrides: Any) -> T:
    """``ops_cls(**fields of source that ops_cls also has, **overrides)``."""
    shared = set(field_names(ops_cls)) & set(field_names(type(source)))
    values = {name: getattr(source, name) for name in field_names(ops_cls) if name in shared}
    return ops_cls(**(values | overrides))
