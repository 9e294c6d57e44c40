"""The building blocks of the API's schemas: the grammar validator whose pattern the OpenAPI
document publishes, query-string numbers as JSON writes them, and the shared patterns."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from worker.errors import InvalidReference
from worker.schema_rules import MAX_NAME_LENGTH, MAX_SLUG_LENGTH

PLATFORM_PATTERN = r"^[a-z0-9_]+/[a-z0-9_]+(?:/[a-z0-9_.]+)?$"
CURSOR_PATTERN = r"^[0-9]{13}:[0-9a-f]{32}$"
# A Redis stream id; at most 19 digits a part, so every match is one Redis accepts (u64).
AUDIT_CURSOR_PATTERN = r"^[0-9]{1,19}-[0-9]{1,19}$"
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
# APP_SLUG/TARGET is one repository name of at most 255 characters.
MAX_IMAGE_LENGTH = MAX_NAME_LENGTH - MAX_SLUG_LENGTH - 1
MAX_TAG_LENGTH = 128
MAX_TARGETS = 10


class Grammar(validate.Validator):
    """The whole value must match `pattern`, which the OpenAPI document publishes (apispec reads
    `regex`); `check`, one of worker.reference's validators, words the error."""

    def __init__(self, pattern: str, check: Callable[[str], object] | None = None) -> None:
        self.regex = re.compile(pattern)
        self.check = check

    def __call__(self, value: str) -> str:
        """Return `value` if it matches whole, else raise ValidationError."""
        if self.check is not None:
            try:
                self.check(value)
            except InvalidReference as exc:
                raise ValidationError(str(exc)) from None
        if self.regex.fullmatch(value) is None:
            raise ValidationError(f"does not match the pattern {self.regex.pattern}")
        return value


class QueryInteger(fields.Integer):
    """An integer in a query string: ASCII digits only (int() would take ' 5' or Arabic digits)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not value.isascii() or not value.isdigit():
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class QueryNumber(fields.Float):
    """A number in a query string, as JSON writes one (float() would take ' 5', '1_0' or Arabic
    digits); the OpenAPI document says `number`, so this is the grammar a client can follow."""

    GRAMMAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or self.GRAMMAR.fullmatch(value) is None:
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictSchema(Schema):
    """A schema that rejects unknown fields."""

    class Meta:
        unknown = RAISE
