"""Cursor pagination: stable pages over tables that grow while a client reads them."""

from rest_framework.pagination import CursorPagination


class CreatedCursorPagination(CursorPagination):
    """Newest first by primary key, which grows with time and is always indexed."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 100
