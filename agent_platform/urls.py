from django.contrib import admin
from django.http import JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

import caching.metrics


def healthz(request):
    return JsonResponse({"status": "ok"})


@csrf_exempt  # it changes nothing; without this an unsafe method would get the HTML CSRF page
def api_not_found(request):
    """API clients get JSON, not Django's HTML page, for a path that matches no route."""
    return JsonResponse({"detail": "Not found."}, status=404)


urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/", include("agents_app.urls")),
    path("api/", include("caching.urls")),
    path("api/", include("alerts.urls")),
    path("healthz/", healthz),
    path("metrics", caching.metrics.metrics_view, name="metrics"),
    re_path(r"^api/", api_not_found),
]
