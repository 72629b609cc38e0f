"""Request bodies take a value only in the JSON type their OpenAPI schema gives it.

Pydantic's lax mode reads `false` as the number 0, `1` as the boolean true and a number as a
time (Unix seconds). A client generated from the schema never sends them, and a typo should not
silently become a value, so every input model refuses them (`wrong_type`). Text still reaches
number fields as pydantic reads it: the console builds the same models from its form fields.
"""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    GetJsonSchemaHandler,
    NaiveDatetime,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from patron.core.reasons import Reason

NUMBERS = (int, float, Decimal)
TIMES = (date, AwareDatetime, NaiveDatetime)  # datetime is a date


class Input(BaseModel):
    """The base of every request body: unknown fields and values of another JSON type refused."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _of_its_json_type(cls, value: Any, info: ValidationInfo) -> Any:
        name = info.field_name
        if name is None:
            return value
        annotation = cls.model_fields[name].annotation
        if not _takes_any_json_type(cls, name) and not fits(annotation, value):
            raise PydanticCustomError(
                Reason.wrong_type.value,
                "{value!r} is not of this field's JSON type",
                {"value": value},
            )
        return value


@dataclass(frozen=True)
class _NotNull:
    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        options = [option for option in schema.pop("anyOf", [schema]) if option != {"type": "null"}]
        schema.update(options[0] if len(options) == 1 else {"anyOf": options})
        return schema


# A field a PATCH may leave out but not set to null (its service refuses a null with 422
# `missing`), written `Annotated[X | None, NOT_NULL] = None`: the schema leaves null out, while
# validation keeps pydantic's plain optional field, so that an error names the field alone.
NOT_NULL = _NotNull()


def fits(annotation: Any, value: Any) -> bool:
    """Whether `value` is of a JSON type `annotation` takes: booleans for booleans only, numbers
    for numbers but not booleans, times as text (pydantic checks the rest)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return fits(get_args(annotation)[0], value)
    if annotation is type(None):
        return value is None
    if origin in (Union, types.UnionType):
        return any(fits(option, value) for option in get_args(annotation))
    if origin is list and isinstance(value, list):
        return all(fits(get_args(annotation)[0], item) for item in value)
    if origin is dict and isinstance(value, dict):
        return all(fits(get_args(annotation)[1], item) for item in value.values())
    if annotation is bool:
        return isinstance(value, bool) or not isinstance(value, NUMBERS)
    if annotation in NUMBERS:
        return not isinstance(value, bool)
    if isinstance(annotation, type) and issubclass(annotation, TIMES):
        return not isinstance(value, (bool, *NUMBERS)) and not _number_text(value)
    return True


@functools.cache
def _takes_any_json_type(model: type[BaseModel], field: str) -> bool:
    return takes_any_json_type(model.model_fields[field].annotation)


def takes_any_json_type(annotation: Any) -> bool:
    """Whether `fits` holds whatever the value (text, models and lists of them: the most fields),
    so that validating a body skips it for them."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return takes_any_json_type(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return any(takes_any_json_type(option) for option in get_args(annotation))
    if origin is list:
        return takes_any_json_type(get_args(annotation)[0])
    if origin is dict:
        return takes_any_json_type(get_args(annotation)[1])
    if annotation is type(None) or annotation is bool or annotation in NUMBERS:
        return False
    return not (isinstance(annotation, type) and issubclass(annotation, TIMES))


def _number_text(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)
