"""JSON Schema, checked one way across the app (compare's assertions, structured outputs, tool parameters):
by the draft a schema names in `$schema`, else 2020-12, with jsonschema's own validators."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator

__all__ = ["SchemaError", "check_schema", "validator"]


def _validator_class(schema: Any) -> type[Validator]:
    return validators.validator_for(schema, default=Draft202012Validator)


def check_schema(schema: Any) -> None:
    """Raises `SchemaError` (its `message` and `absolute_path` say what and where) when `schema` is not valid."""
    _validator_class(schema).check_schema(schema)


def validator(schema: Any) -> Validator:
    """A validator for a schema already checked."""
    return _validator_class(schema)(schema)
