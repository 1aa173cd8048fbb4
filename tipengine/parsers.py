"""The JSON body parser: hostile JSON (nested too deep, lone surrogates, too large) is a 4xx, never a 500."""

import json
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from tipengine.domain_errors import RequestTooLarge

# A \ud800-\udfff escape: the only way a JSON text decodes to a str that cannot be encoded as UTF-8.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


class SafeJSONParser(BaseParser):
    """JSON bodies like DRF's JSONParser, refusing what would otherwise fail later as a 500:

    - nesting deep enough to exhaust Python's recursion limit (400);
    - lone UTF-16 surrogates (`"\\ud800"`), which no UTF-8 text, PostgreSQL column or response can hold (400);
    - a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413). Not a JSONParser subclass on purpose: DRF reads the
      body of those itself, before `parse`, where the size error escapes every handler as a 500.
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        request = (parser_context or {}).get("request")
        try:
            raw = request.body if request is not None else stream.read()  # Django checks the size in .body
        except RequestDataTooBig:
            raise RequestTooLarge(details={"max_bytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}) from None
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        if SURROGATE_ESCAPE.search(raw):
            try:
                json.dumps(data, ensure_ascii=False).encode("utf-8")
            except UnicodeEncodeError:
                raise ParseError("JSON parse error - a string holds a lone UTF-16 surrogate.") from None
        return data
