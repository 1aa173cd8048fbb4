"""Cursor pagination: stable pages over tables that grow while a client reads them."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

BIGINT_MAX = 2**63 - 1


class CreatedCursorPagination(CursorPagination):
    """Newest first by primary key, which grows with time and is always indexed."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Cursor | None:
        """DRF's cursor, with its 404 also for a position that is not an id: DRF would hand `p=abc` to the
        database, whose comparison with a bigint then fails as a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None and not _is_id(cursor.position):
            raise NotFound(self.invalid_cursor_message)
        return cursor


def _is_id(position: str) -> bool:
    return position.isascii() and position.isdigit() and int(position) <= BIGINT_MAX
