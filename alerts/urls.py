from django.urls import path

from alerts import api

urlpatterns = [
    path("alert-rules/", api.AlertRuleListApi.as_view(), name="alert-rule-list"),
    path("alert-rules/<int:rule_id>/", api.AlertRuleDetailApi.as_view(), name="alert-rule-detail"),
    path("alert-webhooks/", api.WebhookListApi.as_view(), name="alert-webhook-list"),
    path("alert-webhooks/<int:webhook_id>/", api.WebhookDetailApi.as_view(), name="alert-webhook-detail"),
    path("alerts/", api.AlertListApi.as_view(), name="alert-list"),
]
