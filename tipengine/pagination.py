"""Cursor pagination: stable pages over tables that grow while a client reads them."""

from base64 import b64decode
from typing import Any
from urllib import parse

from django.core import signing
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param


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

    def encode_cursor(self, cursor: Cursor) -> str:
        """DRF's link with its cursor (base64 of o=offset&r=reverse&p=position) signed: a client follows it and
        cannot make one up."""
        url = super().encode_cursor(cursor)
        encoded = parse.parse_qs(parse.urlsplit(url).query, keep_blank_values=True)[self.cursor_query_param][0]
        return replace_query_param(url, self.cursor_query_param, _signer().sign(encoded))

    def decode_cursor(self, request: Request) -> Cursor | None:
        """The cursor of a `next` or `previous` link we issued; DRF's 404 for anything else, however well-formed.

        DRF would follow any cursor that decodes, so a forged `p=1` or `o=900` paged through whatever it named, and
        a position that is not an id reached the database, whose comparison with a bigint failed as a 500."""
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            tokens = parse.parse_qs(b64decode(_signer().unsign(signed)).decode("ascii"), keep_blank_values=True)
            offset = int(tokens.get("o", ["0"])[0])
            reverse = tokens.get("r", ["0"])[0] == "1"
        except (signing.BadSignature, ValueError, UnicodeError):
            raise NotFound(self.invalid_cursor_message) from None
        # The position stays the text DRF decodes and compares (the stubs' Cursor says int: what the field holds).
        position: Any = tokens.get("p", [None])[0]
        return Cursor(offset=offset, reverse=reverse, position=position)


def _signer() -> signing.Signer:
    # Built per call: SECRET_KEY (and SECRET_KEY_FALLBACKS, for a key being rotated) as they are now.
    return signing.Signer(salt="tipengine.pagination.cursor")
