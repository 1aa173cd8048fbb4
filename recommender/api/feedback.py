"""Feedback on a served tip (POST /api/v1/tips/<id>/feedback/) and the user's tip history."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender.models import SERVED_TIP_CONTENT, FeedbackEvent, TipScore
from recommender.reward_table import Action, window_closes_at
from recommender.selectors.history import tips_history
from recommender.services.feedback import IDEMPOTENCY_KEY_MAX, feedback_record
from tipengine.users import request_user

REPLAYED_HEADER = "Idempotent-Replayed"


class FeedbackApi(APIView):
    """Record what the user did with a tip; the `Idempotency-Key` header makes retries safe."""

    throttle_scope = "feedback"  # settings.API_THROTTLE_RATES

    @extend_schema_serializer(component_name="TipFeedbackRequest")
    class InputSerializer(serializers.Serializer):
        # The message names the valid actions, so a frontend developer need not look them up.
        action = serializers.ChoiceField(
            choices=Action.choices,
            error_messages={
                "invalid_choice": f'"{{input}}" is not a valid action; use one of: {", ".join(Action.values)}.'
            },
        )
        until = serializers.DateTimeField(required=False, allow_null=True, help_text="Only with `snoozed`; future.")

    @extend_schema_serializer(component_name="TipFeedbackResult")
    class OutputSerializer(serializers.Serializer):
        tip_id = serializers.IntegerField()
        action = serializers.ChoiceField(choices=Action.choices)
        until = serializers.DateTimeField(allow_null=True)
        reward = serializers.FloatField(help_text="The tip's reward after this action (final when `final`).")
        final = serializers.BooleanField()
        finalized_at = serializers.DateTimeField(allow_null=True)
        window_closes_at = serializers.DateTimeField()
        due_age_days = serializers.IntegerField(allow_null=True)
        recorded_at = serializers.DateTimeField()

    @extend_schema(
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            409: OpenApiResponse(description="The tip's reward is already final, or its window has closed."),
            422: OpenApiResponse(description="This Idempotency-Key was used with a different request."),
        },
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
                OpenApiParameter.HEADER,
                required=False,
                description="Retries with the same key replay the first answer.",
            )
        ],
    )
    def post(self, request: Request, tip_id: int) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        outcome = feedback_record(
            user=request_user(request),
            tip_id=tip_id,
            action=data.validated_data["action"],
            until=data.validated_data.get("until"),
            idempotency_key=request.headers.get("Idempotency-Key"),
        )
        # The service's body is already the wire format (it is also what a replay sends back verbatim).
        response = Response(outcome.body, status=status.HTTP_201_CREATED)
        if outcome.replayed:
            response[REPLAYED_HEADER] = "true"
        return response


@extend_schema_serializer(component_name="TipFeedbackEvent")
class FeedbackEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeedbackEvent
        fields = ["action", "created_at", "until", "reward"]


class HistoryApi(ListAPIView):
    """The user's served tips, newest first, with every feedback event and the reward; cursor-paginated."""

    throttle_scope = "history"  # settings.API_THROTTLE_RATES

    @extend_schema_serializer(component_name="TipHistoryItem")
    class OutputSerializer(serializers.ModelSerializer):
        kind = serializers.CharField(source="tip_kind", allow_null=True)
        final = serializers.BooleanField(source="is_final")
        window_closes_at = serializers.SerializerMethodField()
        events = FeedbackEventSerializer(many=True)

        class Meta:
            model = TipScore
            fields = [
                "id",
                "request_id",
                "position",
                *("kind" if name == "tip_kind" else name for name in SERVED_TIP_CONTENT),
                "served_at",
                "last_action",
                "reward",
                "final",
                "feedback_at",
                "finalized_at",
                "window_closes_at",
                "events",
            ]

        @extend_schema_field(OpenApiTypes.DATETIME)
        def get_window_closes_at(self, tip: TipScore) -> str:
            return serializers.DateTimeField().to_representation(window_closes_at(tip.served_at))

    serializer_class = OutputSerializer

    def get_queryset(self):
        return tips_history(user=request_user(self.request))
