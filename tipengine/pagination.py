"""Cursor pagination: stable pages over tables that grow while a client reads them."""

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

BIGINT_MAX = 2**63 - 1


class CreatedCursorPagination(CursorPagination):
    """Newest first by primary key, which grows with time and is always indexed."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        """The page size asked for, or the default (None: unpaginated, as DRF's); 400 for one that is not a whole
        number in 1..max_page_size (DRF would quietly serve the default or the maximum instead of what was asked)."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= self.max_page_size):
            message = f"A whole number from 1 to {self.max_page_size}."
            raise serializers.ValidationError({self.page_size_query_param: [message]})
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
        return parameters

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor, with its 404 also for a position that is not an id: DRF would hand `p=abc` to the
        database, whose comparison with a bigint then fails as a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _is_id(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_id(position: object) -> bool:
    # A decoded position is the query's text (the stubs' Cursor says int: what the ordering field holds).
    return isinstance(position, str) and position.isascii() and position.isdigit() and int(position) <= BIGINT_MAX
