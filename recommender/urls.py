"""Routes under /api/v1/tips/."""

from django.urls import path

from recommender.api.feedback import FeedbackApi, HistoryApi
from recommender.api.tips import TipsApi

# `history/` before any `<int:tip_id>/...` route, so it is never read as a tip id.
urlpatterns = [
    path("", TipsApi.as_view(), name="tips-list"),
    path("history/", HistoryApi.as_view(), name="tips-history"),
    path("<int:tip_id>/feedback/", FeedbackApi.as_view(), name="tips-feedback"),
]
