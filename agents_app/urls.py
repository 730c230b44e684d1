from django.urls import path

from agents_app import api

urlpatterns = [
    path("models/", api.ModelListApi.as_view(), name="model-list"),
    path("model-families/", api.FamilyDefaultListApi.as_view(), name="family-default-list"),
    path(
        "model-families/<slug:family_slug>/caching-default/",
        api.FamilyDefaultApi.as_view(),
        name="family-default",
    ),
    path("agents/", api.AgentListApi.as_view(), name="agent-list"),
    path("agents/export/", api.AgentsExportApi.as_view(), name="agents-export"),
    path("agents/import/", api.AgentsImportApi.as_view(), name="agents-import"),
    path("agents/<int:agent_id>/", api.AgentDetailApi.as_view(), name="agent-detail"),
    path("agents/<int:agent_id>/export/", api.AgentExportApi.as_view(), name="agent-export"),
]
