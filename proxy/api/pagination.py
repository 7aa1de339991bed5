"""Keyset (cursor) pagination shared by every list endpoint of the REST API.

A page is `{"object": "list", "data": [...], "has_more": bool, "next_cursor": str|null}`.
The cursor is the ordering values of the last row returned, so paging stays correct
while rows are added or deleted (an offset would skip or repeat rows) and costs one
indexed range query however deep the page is. It is opaque to clients but not a
secret: a forged cursor only moves the start position inside the caller's own,
already-filtered queryset.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import decimal
import functools
import json
import operator
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Model, Q, QuerySet
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

__all__ = [
    "LIMIT_DEFAULT",
    "LIMIT_MAX",
    "PAGINATION_PARAMETERS",
    "list_envelope",
    "paginate",
]

LIMIT_DEFAULT = 20
LIMIT_MAX = 200
# Far longer than any real cursor; bounds the work spent decoding garbage.
_CURSOR_MAX_CHARS = 2000

PAGINATION_PARAMETERS = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": LIMIT_MAX},
        OpenApiParameter.QUERY,
        description=f"Page size, 1..{LIMIT_MAX} (default {LIMIT_DEFAULT}).",
    ),
    OpenApiParameter(
        "cursor",
        {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]*$",
            "maxLength": _CURSOR_MAX_CHARS,
        },
        OpenApiParameter.QUERY,
        description="`next_cursor` of the previous page; omit for the first page.",
    ),
]


@extend_schema_field({"type": "string", "pattern": "^list$", "example": "list"})
class _ListObjectField(serializers.CharField):
    """`"object": "list"`; documented without an enum so pages share no enum name."""


def list_envelope(item: Any, *, name: str) -> serializers.Serializer:
    """The documented shape of one page whose `data` items are `item` (a serializer)."""
    return inline_serializer(
        name=name,
        fields={
            "object": _ListObjectField(read_only=True),
            "data": item(many=True) if isinstance(item, type) else item,
            "has_more": serializers.BooleanField(),
            "next_cursor": serializers.CharField(allow_null=True),
        },
    )


def paginate(
    request: Request,
    queryset: QuerySet,
    *,
    serialize: Callable[[Any], dict[str, Any]],
    order: Sequence[str] = ("-updated_at", "-pk"),
) -> Response:
    """One page of `queryset` in `order`, each row turned into JSON by `serialize`.

    `order` must end with a unique, non-null field (such as `pk`) so that no two rows
    share a position; ties would make rows vanish between pages.
    """
    limit = _limit(request.query_params.get("limit"))
    ordered = queryset.order_by(*order)
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor:
        values = _decode(raw_cursor, order=order, model=queryset.model)
        ordered = ordered.filter(_after(order, values))
    rows = list(ordered[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode(order, rows[-1]) if has_more else None
    return Response(
        {
            "object": "list",
            "data": [serialize(row) for row in rows],
            "has_more": has_more,
            "next_cursor": next_cursor,
        }
    )


def _limit(raw: str | None) -> int:
    if raw in (None, ""):
        return LIMIT_DEFAULT
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= LIMIT_MAX:
        raise serializers.ValidationError(
            {"limit": f"Must be an integer from 1 to {LIMIT_MAX}; got {raw!r}."}
        )
    return value


def _field_name(term: str) -> str:
    return term.removeprefix("-")


def _value(row: Model, name: str) -> Any:
    return row.pk if name == "pk" else getattr(row, name)


def _encode(order: Sequence[str], row: Model) -> str:
    payload = {
        "o": list(order),
        "v": [_value(row, _field_name(term)) for term in order],
    }
    text = json.dumps(payload, default=_jsonable, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def _jsonable(value: Any) -> Any:
    # Full precision: DjangoJSONEncoder cuts datetimes to milliseconds, which would
    # skip rows changed within the same millisecond as the last row of a page.
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    raise TypeError(f"Cannot put a {type(value).__name__} into a cursor.")


def _bad_cursor(reason: str) -> serializers.ValidationError:
    return serializers.ValidationError(
        {"cursor": f"Invalid cursor ({reason}); pass `next_cursor` back unchanged."}
    )


def _decode(raw: str, *, order: Sequence[str], model: type[Model]) -> list[Any]:
    if len(raw) > _CURSOR_MAX_CHARS:
        raise _bad_cursor("too long")
    try:
        padded = raw + "=" * (-len(raw) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise _bad_cursor("not a cursor") from exc
    if not isinstance(payload, dict) or payload.get("o") != list(order):
        raise _bad_cursor("made for another listing")
    values = payload.get("v")
    if not isinstance(values, list) or len(values) != len(order):
        raise _bad_cursor("wrong shape")
    return [
        _to_python(model, _field_name(term), value)
        for term, value in zip(order, values, strict=True)
    ]


def _to_python(model: type[Model], name: str, value: Any) -> Any:
    if value is None:
        raise _bad_cursor("null position")
    try:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    except FieldDoesNotExist:
        return value  # an annotation: compared as the JSON value it was written as
    try:
        converted = field.to_python(value)
    except (ValidationError, TypeError, ValueError) as exc:
        raise _bad_cursor(f"bad {name}") from exc
    if converted is None:
        raise _bad_cursor(f"bad {name}")
    return converted


def _after(order: Sequence[str], values: Sequence[Any]) -> Q:
    """Rows strictly after the cursor position: (a, b) > (x, y) spelt out for the ORM."""
    steps = []
    for index, term in enumerate(order):
        name = _field_name(term)
        step = Q(**{f"{name}__{'lt' if term.startswith('-') else 'gt'}": values[index]})
        for previous in range(index):
            step &= Q(**{_field_name(order[previous]): values[previous]})
        steps.append(step)
    return functools.reduce(operator.or_, steps)
