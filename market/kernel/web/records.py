"""Out schemas of a table's rows (or of frozen records), generated from their columns.

A schema that shows a row as it is stored names its model (and the columns clients never
see) and declares only what differs from the columns::

    class ApiKeyOut(RecordSchema, model=ApiKey, omit=("secret_hash",)):
        scopes = fields.List(fields.String(), metadata={"description": "read, write"})

Every column of ``model`` but those in ``omit`` becomes a field of the same name, typed by
its ``Mapped[...]`` annotation: ``str`` as ``String``, ``int`` as ``Integer``, ``bool`` as
``Boolean``, ``datetime`` as ``DateTime``, JSON ``list[str]``, ``dict[str, Any]`` and
``list[dict[str, Any]]`` as lists and dicts of those; a nullable column allows ``None``. A
field declared on the class (a description, a nested schema, a value that is not a column)
replaces the generated one or adds to them. Subclasses inherit the fields (a summary drops
some with ``class Meta: exclude``) and generate nothing more. A dataclass serves as ``model``
too: its fields are the columns, ``| None`` the nullable ones. A column whose name looks
secret (``secret``, ``password``, ``token``, ``credential``) is never published
by default: the schema must omit it, or declare it.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from datetime import datetime
from types import UnionType
from typing import Any, Union, get_args, get_origin

import marshmallow as ma
from marshmallow import fields
from marshmallow.schema import SchemaMeta
from sqlalchemy.orm import Mapped


def _field(shape: Any, allow_none: bool) -> fields.Field[Any]:
    if shape == list[str]:
        return fields.List(fields.String(), allow_none=allow_none)
    if shape == dict[str, Any]:
        return fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=allow_none)
    if shape == list[dict[str, Any]]:
        return fields.List(fields.Dict(keys=fields.String(), values=fields.Raw()),
                           allow_none=allow_none)
    return _SCALARS[shape](allow_none=allow_none)


# Columns never published by default: a schema must omit them or declare them on purpose.
SECRET = re.compile(r"secret|password|token|credential")

_SCALARS: dict[Any, type[fields.Field[Any]]] = {
    str: fields.String, int: fields.Integer, bool: fields.Boolean, datetime: fields.DateTime}


def _hint(record: type, key: str) -> tuple[Any, bool]:
    """The declared type of ``key`` (``Mapped[T]`` read as ``T``), evaluated in its module,
    without ``| None``; and whether it had ``| None``."""
    for klass in record.__mro__:
        text = vars(klass).get("__annotations__", {}).get(key)
        if text is not None:
            hint = eval(text, vars(sys.modules[klass.__module__]))  # noqa: S307 (our source)
            if get_origin(hint) is Mapped:
                hint = get_args(hint)[0]
            if get_origin(hint) in (Union, UnionType):
                kinds = [arg for arg in get_args(hint) if arg is not type(None)]
                return kinds[0], len(kinds) < len(get_args(hint))
            return hint, False
    raise TypeError(f"{record.__name__}.{key} has no annotation")


def _columns(record: type) -> dict[str, bool]:
    """The record's field names, in order, and whether each may be ``None``: the columns of
    a model (nullable as in the table) or the fields of a dataclass (``| None``)."""
    if dataclasses.is_dataclass(record):
        return {field.name: _hint(record, field.name)[1] for field in dataclasses.fields(record)}
    table = record.__table__  # type: ignore[attr-defined]
    return {attr.key: bool(table.columns[attr.key].nullable)
            for attr in record.__mapper__.column_attrs}  # type: ignore[attr-defined]


def record_fields(record: type, omit: tuple[str, ...] = ()) -> dict[str, fields.Field[Any]]:
    """The out fields of ``record``'s columns or fields, in their order, but those in
    ``omit``."""
    columns = _columns(record)
    unknown = set(omit) - set(columns)
    if unknown:
        raise ValueError(f"{record.__name__} has no column {sorted(unknown)}")
    found = {}
    for key, nullable in columns.items():
        if key in omit:
            continue
        if SECRET.search(key):
            raise TypeError(f"{record.__name__}.{key} looks secret: omit it, or declare the "
                            "field on the schema if clients may really see it")
        shape = _hint(record, key)[0]
        try:
            found[key] = _field(shape, nullable)
        except KeyError:
            raise TypeError(f"no field for {record.__name__}.{key} ({shape}); declare it") from None
    return found


class RecordSchemaMeta(SchemaMeta):
    """Takes the class keywords ``model`` and ``omit`` of a :class:`RecordSchema`."""

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any], *,
                model: type | None = None, omit: tuple[str, ...] = ()) -> RecordSchemaMeta:
        attrs["_column_fields"] = {} if model is None else record_fields(model, omit)
        return super().__new__(mcs, name, bases, attrs)  # type: ignore[return-value]

    def __init__(cls, name: str, bases: tuple[type, ...], attrs: dict[str, Any],
                 **_: Any) -> None:
        super().__init__(name, bases, attrs)  # type: ignore[no-untyped-call]

    @classmethod
    def get_declared_fields(mcs, klass: SchemaMeta, cls_fields: list[tuple[str, Any]],
                            inherited_fields: list[tuple[str, Any]],
                            dict_cls: type[dict[str, Any]] = dict) -> dict[str, Any]:
        declared = super().get_declared_fields(klass, cls_fields, inherited_fields, dict_cls)
        return dict_cls({**vars(klass)["_column_fields"], **declared})


class RecordSchema(ma.Schema, metaclass=RecordSchemaMeta):
    """An out schema whose fields are, by default, the columns of its ``model`` (a mapped
    class or a dataclass)."""
