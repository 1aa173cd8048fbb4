"""Serve tips (GET /api/v1/tips/?limit=N): assemble, score, log to tip_scores, answer."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from generation.candidates import TipKind, TipSource
from integrations.todoist.types import TodoistTask
from recommender.services.serving import ServedTips, tips_serve
from tipengine.users import request_user

LIMIT_DEFAULT = 3
LIMIT_MAX = 10


def task_due(task: TodoistTask) -> str | None:
    """The task's due moment as the frontend shows it: a date, or a date-time when one is set."""
    if task.due_datetime is not None:
        return task.due_datetime.isoformat()
    return task.due_date.isoformat() if task.due_date else None


class TaskOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    content = serializers.CharField()
    due = serializers.CharField(allow_null=True, help_text="YYYY-MM-DD, or an ISO date-time when a time is set.")


class TipOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Use it for feedback: POST /api/v1/tips/<id>/feedback/.")
    kind = serializers.ChoiceField(choices=TipKind.choices)
    source = serializers.ChoiceField(choices=TipSource.choices)  # type: ignore[assignment]  # a field, not Field.source
    title = serializers.CharField()
    body = serializers.CharField()
    rationale = serializers.CharField()
    tasks = TaskOutputSerializer(many=True)


class DegradedSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="tasks_unavailable, llm_timeout, llm_unavailable, llm_skipped, no_candidates, cache_unavailable"
    )
    message = serializers.CharField()
    details = serializers.DictField()


class TipsOutputSerializer(serializers.Serializer):
    request_id = serializers.IntegerField()
    degraded = DegradedSerializer(many=True, help_text="Empty when nothing went wrong.")
    tips = TipOutputSerializer(many=True)


class TipsApi(APIView):
    """Serve up to `limit` tips for the authenticated user; each is logged and can then get feedback."""

    throttle_scope = "tips"  # settings.API_THROTTLE_RATES

    class InputSerializer(serializers.Serializer):
        limit = serializers.IntegerField(
            min_value=1, max_value=LIMIT_MAX, default=LIMIT_DEFAULT, help_text="How many tips at most."
        )

    OutputSerializer = TipsOutputSerializer
    # The one field, built (and its validators) once: a serializer per call deep-copies its fields first, about
    # 20 us of a serve (docs/benchmarks.md, "A lighter warm serve, profiled"). Validating a field keeps no state.
    LIMIT = InputSerializer().fields["limit"]

    @extend_schema(
        parameters=[InputSerializer],
        responses={200: OutputSerializer},
    )
    def get(self, request: Request) -> Response:
        served = tips_serve(user=request_user(request), limit=self.limit(request))
        return Response(self.render(served))

    @classmethod
    def limit(cls, request: Request) -> int:
        """The validated `limit`, failing as InputSerializer would: the same 400 invalid_fields naming `limit`."""
        # The plain value, not the QueryDict: from one DRF would read `limit=` (blank) as "use the default".
        try:
            return cls.LIMIT.run_validation(request.query_params.get("limit", empty))
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"limit": exc.detail}) from exc

    @staticmethod
    def render(served: ServedTips) -> dict[str, Any]:
        """The body OutputSerializer describes, from the logged rows: no serializer round trip, no model instance."""
        return {
            "request_id": served.request_id,
            "degraded": served.request_row["degraded"],
            "tips": [
                {
                    "id": tip_id,
                    "kind": tip["tip_kind"],
                    "source": tip["source"],
                    "title": tip["title"],
                    "body": tip["body"],
                    "rationale": tip["rationale"],
                    "tasks": [
                        {"id": task.id, "content": task.content, "due": task_due(task)}
                        for task in (served.tasks[task_id] for task_id in tip["task_ids"])
                    ],
                }
                for tip_id, tip in zip(served.tip_ids, served.tip_rows, strict=True)
            ],
        }
