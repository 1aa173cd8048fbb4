"""A URLconf for testing the error handlers with views that fail on purpose."""

from django.core.exceptions import PermissionDenied
from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from recommender.errors import AlreadyFinal
from tipengine.urls import handler400, handler403, handler404, handler500  # noqa: F401 (the handlers of this URLconf)


class EchoInput(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=10)


class EchoView(APIView):
    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data)


class ConflictView(APIView):
    def get(self, request):
        raise AlreadyFinal(details={"id": 1})


class ForbiddenView(APIView):
    def get(self, request):
        raise PermissionDenied


class CrashView(APIView):
    def get(self, request):
        raise RuntimeError("boom with a secret-token-123 inside")


def plain_crash(request):
    raise RuntimeError("plain boom")


urlpatterns = [
    path("api/echo/", EchoView.as_view()),
    path("api/conflict/", ConflictView.as_view()),
    path("api/forbidden/", ForbiddenView.as_view()),
    path("api/crash/", CrashView.as_view()),
    path("plain-crash/", plain_crash),
    path("", include("tipengine.urls")),
]
