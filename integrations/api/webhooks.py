"""Todoist's webhook under /api/v1/integrations/todoist/webhook/: the signature, not a user, authenticates it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.serializers import WebhookOutputSerializer
from integrations.completions import MAX_WEBHOOK_BYTES, webhook_delivery_receive
from integrations.errors import WebhookTooLarge


class TodoistWebhookApi(APIView):
    """Todoist's webhook: no user authentication; the HMAC signature over the raw body authenticates it."""

    OutputSerializer = WebhookOutputSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes: list = []  # the raw body is what is signed: it is read as bytes, never parsed first

    @extend_schema(
        request=None,
        responses={
            200: WebhookOutputSerializer,
            400: OpenApiResponse(description="No delivery id, or the body is not a Todoist event."),
            403: OpenApiResponse(description="The X-Todoist-Hmac-SHA256 signature is missing or wrong."),
            413: OpenApiResponse(description="The body is larger than 1 MiB."),
        },
        summary="Todoist webhook (HMAC-checked)",
    )
    def post(self, request: Request) -> Response:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_WEBHOOK_BYTES:  # refuse before reading: Django would fail past its own upload limit
            raise WebhookTooLarge()
        outcome, _ = webhook_delivery_receive(
            body=request.body,
            signature=request.headers.get("X-Todoist-Hmac-SHA256"),
            delivery_id=request.headers.get("X-Todoist-Delivery-ID"),
        )
        return Response(self.OutputSerializer({"status": outcome}).data)
