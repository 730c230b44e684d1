"""The alerts API: rules, webhooks and the incidents' history, each scoped to the caller's tenant.

Reads are open to every role; writes need an admin key (rules send mail to the
tenant's admins and post to its channels; webhook URLs are secrets).
"""

from django.db.models import Exists, OuterRef
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agent_platform.errors import ApplicationError
from agent_platform.models import Role
from agent_platform.parsers import JSONParser
from agents_app.serializers import paginated
from alerts import services
from alerts.models import Alert, AlertRule, Webhook
from alerts.serializers import (
    AlertOutputSerializer,
    AlertRuleInputSerializer,
    AlertRuleOutputSerializer,
    WebhookInputSerializer,
    WebhookOutputSerializer,
)


def rule_list(tenant):
    firing = Alert.objects.filter(rule=OuterRef("pk"), status=Alert.Status.FIRING)
    return (
        AlertRule.objects.filter(tenant=tenant)
        .select_related("api_key")
        .prefetch_related("webhooks")
        .annotate(firing=Exists(firing))
        .order_by("name", "pk")
    )


def tenant_rule(request, rule_id) -> AlertRule:
    rule = rule_list(request.tenant).filter(pk=rule_id).first()
    if rule is None:
        raise Http404
    return rule


def tenant_webhook(request, webhook_id) -> Webhook:
    webhook = Webhook.objects.filter(tenant=request.tenant, pk=webhook_id).first()
    if webhook is None:
        raise Http404
    return webhook


def _page(request, view, queryset, serializer_class):
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class AlertRuleListApi(APIView):
    parser_classes = [JSONParser]
    required_role = Role.ADMIN

    @extend_schema(responses=paginated(AlertRuleOutputSerializer), operation_id="alert_rules_list")
    def get(self, request):
        return _page(request, self, rule_list(request.tenant), AlertRuleOutputSerializer)

    @extend_schema(
        request=AlertRuleInputSerializer,
        responses={201: AlertRuleOutputSerializer},
        description="`agent_id`, `api_key` (a key's prefix) and `webhook_ids` must name your tenant's agent, key "
        "and webhooks; `name` is unique in your tenant.",
    )
    def post(self, request):
        serializer = AlertRuleInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rule = services.alert_rule_create(tenant=request.tenant, **serializer.validated_data)
        return Response(AlertRuleOutputSerializer(tenant_rule(request, rule.pk)).data, status=status.HTTP_201_CREATED)


class AlertRuleDetailApi(APIView):
    parser_classes = [JSONParser]
    required_role = Role.ADMIN

    @extend_schema(responses=AlertRuleOutputSerializer)
    def get(self, request, rule_id):
        return Response(AlertRuleOutputSerializer(tenant_rule(request, rule_id)).data)

    @extend_schema(request=AlertRuleInputSerializer(partial=True), responses=AlertRuleOutputSerializer)
    def patch(self, request, rule_id):
        rule = tenant_rule(request, rule_id)
        serializer = AlertRuleInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.alert_rule_update(rule=rule, **serializer.validated_data)
        return Response(AlertRuleOutputSerializer(tenant_rule(request, rule.pk)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, rule_id):
        tenant_rule(request, rule_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookListApi(APIView):
    parser_classes = [JSONParser]
    required_role = Role.ADMIN

    @extend_schema(responses=paginated(WebhookOutputSerializer), operation_id="alert_webhooks_list")
    def get(self, request):
        webhooks = Webhook.objects.filter(tenant=request.tenant).order_by("name", "pk")
        return _page(request, self, webhooks, WebhookOutputSerializer)

    @extend_schema(
        request=WebhookInputSerializer,
        responses={201: WebhookOutputSerializer},
        description="`url` must be a webhook of its `kind` (see the field); `name` is unique in your tenant.",
    )
    def post(self, request):
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_create(tenant=request.tenant, **serializer.validated_data)
        return Response(WebhookOutputSerializer(webhook).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    required_role = Role.ADMIN

    @extend_schema(responses=WebhookOutputSerializer)
    def get(self, request, webhook_id):
        return Response(WebhookOutputSerializer(tenant_webhook(request, webhook_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, webhook_id):
        tenant_webhook(request, webhook_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class AlertListApi(APIView):
    @extend_schema(
        responses=paginated(AlertOutputSerializer),
        operation_id="alerts_list",
        summary="The incidents of your alert rules, newest first, with what was sent to whom",
        parameters=[OpenApiParameter("status", str, enum=Alert.Status.values)],
    )
    def get(self, request):
        alerts = Alert.objects.filter(tenant=request.tenant).select_related("rule").prefetch_related("deliveries")
        if (wanted := request.query_params.get("status")) is not None:
            if wanted not in Alert.Status.values:
                raise ApplicationError(f"status must be one of {', '.join(Alert.Status.values)}.", "status")
            alerts = alerts.filter(status=wanted)
        return _page(request, self, alerts.order_by("-fired_at", "-id"), AlertOutputSerializer)
