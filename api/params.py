"""Query parameter types that say in the OpenAPI document what the server accepts."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

# Pydantic alone would also read a number as a Unix time ("0.5" as 1970-01-01): refused
# here, so the parameters take only what the document says.
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _day(value: object) -> object:
    # A midnight timestamp is still a day (reports are per UTC day): pydantic refuses any
    # other time of day.
    if isinstance(value, str) and not (
        _DAY.fullmatch(value) or (_DAY.match(value) and value[10:11] in ("T", " "))
    ):
        raise PydanticCustomError("date_type", "a date looks like 2026-05-01")
    return value


def _moment(value: object) -> object:
    if isinstance(value, str) and not _MOMENT.match(value):
        raise PydanticCustomError("datetime_type", "a time looks like 2026-05-01T12:00:00Z")
    return value


Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date"}),
]
Moment = Annotated[
    datetime,
    BeforeValidator(_moment),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
