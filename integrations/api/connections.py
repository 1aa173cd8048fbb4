"""Thin views for /api/v1/integrations/: statuses, connect and disconnect Todoist (token or OAuth)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.api.serializers import (
    AuthorizeOutputSerializer,
    IntegrationListOutputSerializer,
    IntegrationOutputSerializer,
    OAuthCallbackInputSerializer,
    TokenInputSerializer,
)
from integrations.errors import OAuthDenied
from integrations.models import Integration, TokenStatus
from integrations.selectors import IntegrationStatus, integration_status, integration_statuses
from integrations.services.oauth import integration_connect_oauth, integration_oauth_authorize_url, oauth_state_consume
from integrations.services.tokens import integration_connect_token, integration_disconnect
from tipengine.throttles import UserScopeThrottle
from tipengine.users import request_user

# One count for both ways of connecting (the counter's key names the scope).
CONNECT_SCOPE = "integrations_connect"


class ConnectThrottle(UserScopeThrottle):
    """Connect attempts per user: each costs a live Todoist call, and we must not be a token-guessing oracle.

    The API's atomic fixed window (ADR 0096) at its own rate, TODOIST_CONNECT_RATE (read at request time).
    """

    def get_rate(self) -> str:
        return settings.TODOIST_CONNECT_RATE


def _connected_response(integration: Integration) -> Response:
    # 202: stored but Todoist could not confirm it yet (it was unreachable); a periodic task verifies it.
    code = status.HTTP_202_ACCEPTED if integration.token_status == TokenStatus.UNVERIFIED else status.HTTP_200_OK
    return Response(IntegrationOutputSerializer(IntegrationStatus.of(integration)).data, status=code)


class IntegrationListApi(APIView):
    OutputSerializer = IntegrationListOutputSerializer

    @extend_schema(responses=IntegrationListOutputSerializer, summary="Every provider with its token_status")
    def get(self, request: Request) -> Response:
        statuses = integration_statuses(user=request_user(request))
        return Response(self.OutputSerializer({"results": statuses}).data)


class TodoistApi(APIView):
    OutputSerializer = IntegrationOutputSerializer

    @extend_schema(responses=IntegrationOutputSerializer, summary="The Todoist connection")
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(integration_status(user=request_user(request))).data)

    @extend_schema(
        responses={200: IntegrationOutputSerializer, 404: OpenApiResponse(description="Todoist was never connected.")},
        summary="Disconnect Todoist (revoke, forget the token); a repeat answers the same and changes nothing",
    )
    def delete(self, request: Request) -> Response:
        integration = integration_disconnect(user=request_user(request))
        return Response(self.OutputSerializer(IntegrationStatus.of(integration)).data)


class TodoistTokenApi(APIView):
    InputSerializer = TokenInputSerializer
    throttle_classes = [ConnectThrottle]
    throttle_scope = CONNECT_SCOPE

    @extend_schema(
        request=TokenInputSerializer,
        responses={
            200: IntegrationOutputSerializer,
            202: IntegrationOutputSerializer,
            400: OpenApiResponse(description="Malformed, or Todoist refused the token."),
            502: OpenApiResponse(description="Todoist answered with an error."),
        },
        summary="Connect Todoist with a personal API token (checked live)",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _connected_response(
            integration_connect_token(user=request_user(request), token=serializer.validated_data["token"])
        )


class TodoistAuthorizeApi(APIView):
    OutputSerializer = AuthorizeOutputSerializer

    @extend_schema(responses=AuthorizeOutputSerializer, summary="Start OAuth: the Todoist URL to send the user to")
    def get(self, request: Request) -> Response:
        url = integration_oauth_authorize_url(user=request_user(request))
        payload = {"authorize_url": url, "state_expires_in_s": settings.TODOIST_OAUTH_STATE_MAX_AGE_S}
        return Response(self.OutputSerializer(payload).data)


class TodoistCallbackApi(APIView):
    InputSerializer = OAuthCallbackInputSerializer
    throttle_classes = [ConnectThrottle]
    throttle_scope = CONNECT_SCOPE

    @extend_schema(
        parameters=[OAuthCallbackInputSerializer],
        responses={
            200: IntegrationOutputSerializer,
            202: IntegrationOutputSerializer,
            400: OpenApiResponse(description="Access denied at Todoist, or a state that is not a live one of yours."),
            502: OpenApiResponse(description="Todoist answered with an error."),
        },
        summary="Finish OAuth: exchange the code (state is checked: signed, single use, short-lived)",
    )
    def get(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.query_params.dict())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("error") or not data.get("code"):
            oauth_state_consume(user=request_user(request), state=data["state"])  # this sign-in is over either way
            raise OAuthDenied(details={"todoist_error": data.get("error", "")})
        return _connected_response(
            integration_connect_oauth(user=request_user(request), code=data["code"], state=data["state"])
        )
