"""Root URL configuration: readiness (/healthz is answered by health.ProbeMiddleware), the admin, the API."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tipengine import health

handler400 = "tipengine.errors.bad_request"
handler403 = "tipengine.errors.permission_denied"
handler404 = "tipengine.errors.not_found"
handler500 = "tipengine.errors.server_error"

urlpatterns = [
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/integrations/", include("integrations.urls")),
    path("api/v1/tips/", include("recommender.urls")),
]
