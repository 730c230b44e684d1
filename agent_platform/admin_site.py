"""The project's admin site: Django's, plus pages one app adds about another app's models.

Reporting shows pages about agents (an agent's caching page, the cost
dashboard) without the agents app importing reporting: the reporting app
registers them here with `add_page`, and they are served under `/admin/`
before the model admins' own URLs (whose `<object_id>/` catch-all would take
them), wrapped in `admin_view` (staff login, CSRF, no-cache).
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.urls import path


class PlatformAdminSite(admin.AdminSite):
    def __init__(self, name="admin"):
        super().__init__(name)
        self._pages: list[tuple[str, object, str]] = []

    def add_page(self, route: str, view, *, name: str) -> None:
        """Serve `view(request, **kwargs)` at `/admin/<route>`, reversed as `admin:<name>`."""
        self._pages.append((route, view, name))

    def get_urls(self):
        pages = [path(route, self.admin_view(view), name=name) for route, view, name in self._pages]
        return pages + super().get_urls()


class PlatformAdminConfig(AdminConfig):
    default_site = "agent_platform.admin_site.PlatformAdminSite"
