"""Strict input fields: what the OpenAPI document says a value is, and nothing JSON merely coerces into it.

marshmallow's own fields are lenient in ways a contract cannot state: Boolean takes "yes" and 1, Integer takes
true (bool is an int in Python), String takes a NUL or a lone surrogate that PostgreSQL or the UTF-8 encoder then
refuses with a 500. These refuse such values as invalid input instead.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from marshmallow import ValidationError, fields, validate

MAX_ID = 2**31 - 1  # an INTEGER primary key on PostgreSQL; a larger id cannot exist


class Text(fields.String):
    """A string the database can store: no NUL, valid Unicode, at most `max_length` characters."""

    def __init__(self, *, max_length: int, min_length: int = 0, **kwargs: Any):
        validators = [validate.Length(min=min_length or None, max=max_length)]
        super().__init__(validate=validators + list(kwargs.pop("validate", [])), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError("must be valid Unicode text") from None
        return text


class Integer(fields.Integer):
    """A JSON integer (never a boolean, a float or a numeric string); in a query string, decimal digits only."""

    def __init__(self, *, in_query: bool = False, **kwargs: Any):
        super().__init__(strict=not in_query, **kwargs)
        self.in_query = in_query

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        if self.in_query and not (isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,18}", value)):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def Id(**kwargs: Any) -> Integer:
    return Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class Boolean(fields.Boolean):
    """Only JSON true or false."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time; without an offset it is UTC. Returned in UTC, between the years 1 and 9000 so that
    schedule arithmetic from it cannot overflow."""

    def __init__(self, **kwargs: Any):
        super().__init__(format="iso", default_timezone=timezone.utc, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = moment.astimezone(timezone.utc)
        except OverflowError:
            raise ValidationError("is out of range") from None
        if moment.year > 9000:
            raise ValidationError("is out of range")
        return moment


class Timestamp(fields.String):
    """An output date-time the services already give as ISO 8601 text."""

    def __init__(self, **kwargs: Any):
        super().__init__(metadata={"format": "date-time"}, **kwargs)
