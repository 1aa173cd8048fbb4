"""Input and output serializers of the integration API (a token is write-only and never echoed)."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from integrations.models import AuthKind, Provider, TokenStatus

# Todoist tokens are 40 hex characters today; allow any visible ASCII up to 256 so a format change does not
# lock users out, but reject whitespace and control characters, which no token contains.
TOKEN_MAX_LENGTH = 256
# Printable ASCII, nothing else; `(?![\s\S])` is "end of input" in both Python and the schema's ECMA regex
# (`$` would let Python accept a trailing newline).
_TOKEN_CHARS = re.compile(r"^[!-~]+(?![\s\S])")


class StrictStringField(serializers.CharField):
    """A CharField that refuses numbers, booleans and objects instead of turning them into strings."""

    default_error_messages = {"not_a_string": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string")
        return super().to_internal_value(data)


class TokenInputSerializer(serializers.Serializer):
    # A validator, not validate_token: the pattern then also appears in the OpenAPI schema. Not trimmed: the
    # schema says "no spaces", so a token with spaces is refused rather than quietly altered.
    token = StrictStringField(
        min_length=1,
        max_length=TOKEN_MAX_LENGTH,
        write_only=True,
        trim_whitespace=False,
        validators=[RegexValidator(_TOKEN_CHARS, "A Todoist token has no spaces or control characters.")],
    )


class OAuthCallbackInputSerializer(serializers.Serializer):
    code = StrictStringField(min_length=1, max_length=512, required=False, help_text="The code Todoist added")
    state = StrictStringField(min_length=1, max_length=1024, help_text="The state from authorize/")
    error = StrictStringField(min_length=1, max_length=128, required=False, help_text="Set when the user said no")


class IntegrationOutputSerializer(serializers.Serializer):
    provider = serializers.ChoiceField(choices=Provider.choices)
    connected = serializers.BooleanField()
    token_status = serializers.ChoiceField(choices=TokenStatus.choices)
    auth_kind = serializers.ChoiceField(choices=AuthKind.choices, allow_null=True)
    is_sample = serializers.BooleanField(help_text="True when the tasks are the bundled sample set (demo user).")
    checked_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    connected_at = serializers.DateTimeField(allow_null=True)


class IntegrationListOutputSerializer(serializers.Serializer):
    results = IntegrationOutputSerializer(many=True)


class AuthorizeOutputSerializer(serializers.Serializer):
    authorize_url = serializers.URLField()
    state_expires_in_s = serializers.IntegerField()


class WebhookOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
