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
    path("agents/<int:agent_id>/invocations/", api.AgentInvocationListApi.as_view(), name="agent-invocations"),
    path("agents/<int:agent_id>/sessions/", api.AgentSessionListApi.as_view(), name="agent-sessions"),
    path("agents/<int:agent_id>/deploy/", api.AgentDeployApi.as_view(), name="agent-deploy"),
    path("agents/<int:agent_id>/deployments/", api.AgentDeploymentListApi.as_view(), name="agent-deployments"),
    path("deployments/<int:deployment_id>/", api.DeploymentDetailApi.as_view(), name="deployment-detail"),
    path("invocations/<int:invocation_id>/", api.InvocationDetailApi.as_view(), name="invocation-detail"),
]
