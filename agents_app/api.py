"""The agents API: thin views that validate input, call one service or selector, and shape the output."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from agent_platform.errors import ApplicationError
from agent_platform.models import Role
from agent_platform.parsers import JSONParser
from agent_platform.schema import NOT_BLANK_TEXT, TEXT
from agent_platform.tenancy import TenantRateThrottle
from agents_app import selectors
from agents_app.models import Agent, Deployment, FoundationModel, Invocation
from agents_app.serializers import (
    AgentFilterSerializer,
    AgentImportSerializer,
    AgentInputSerializer,
    AgentOutputSerializer,
    DeploymentOutputSerializer,
    FamilyDefaultInputSerializer,
    FamilyDefaultSerializer,
    FoundationModelSerializer,
    InvocationFilterSerializer,
    InvocationInputSerializer,
    InvocationOutputSerializer,
    SessionOutputSerializer,
    paginated,
)
from agents_app.services import agents as agent_services
from agents_app.services import deployments as deployment_services
from agents_app.services import invocations as invocation_services
from bedrock import misses
from pricing.selectors import model_prices_map


def tenant_agent(request, agent_id, *, states: bool = True) -> Agent:
    """The caller's agent or 404: another tenant's agent is indistinguishable from a missing one. `states`: as
    `selectors.agent_get`."""
    try:
        return selectors.agent_get(tenant=request.tenant, agent_id=agent_id, states=states)
    except Agent.DoesNotExist:
        raise Http404 from None


def catalog_model(model_id: str) -> FoundationModel:
    try:
        return selectors.model_list().get(model_id=model_id)
    except FoundationModel.DoesNotExist:
        raise ApplicationError(f"Unknown model id {model_id!r}; see GET /api/models/.", "model_id") from None


def agent_response(request, agent, *, notices=(), status_code=status.HTTP_200_OK):
    context = {"notices": list(notices)}
    return Response(AgentOutputSerializer(agent, context=context).data, status=status_code)


class ModelListApi(APIView):
    @extend_schema(
        responses=paginated(FoundationModelSerializer),
        summary="The model catalog with your prices",
        operation_id="models_list",
    )
    def get(self, request):
        paginator = PageNumberPagination()
        models = paginator.paginate_queryset(selectors.model_list(), request, view=self)
        prices = model_prices_map(tenant=request.tenant, models=models)
        data = FoundationModelSerializer(models, many=True, context={"prices": prices}).data
        return paginator.get_paginated_response(data)


# An agent is structured data (a list of integrations): its writes take JSON only, a form is a 415.
JSON_ONLY = [JSONParser]


class AgentListApi(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(
        responses=paginated(AgentOutputSerializer),
        operation_id="agents_list",
        parameters=[
            OpenApiParameter(
                "family",
                {"type": "string", "maxLength": 100, "pattern": TEXT},
                description="Model family slug, e.g. anthropic-claude",
            ),
            OpenApiParameter("model_id", {"type": "string", "maxLength": 200, "pattern": TEXT}),
            OpenApiParameter(
                "search", {"type": "string", "maxLength": 200, "pattern": TEXT}, description="Part of the agent's name"
            ),
        ],
    )
    def get(self, request):
        agents = selectors.agent_list(tenant=request.tenant)
        filters = AgentFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        query = filters.validated_data
        if family := query.get("family"):
            agents = agents.filter(model__family__slug=family)
        if model_id := query.get("model_id"):
            agents = agents.filter(model__model_id=model_id)
        if search := query.get("search"):
            agents = agents.filter(name__icontains=search)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(agents, request, view=self)
        return paginator.get_paginated_response(AgentOutputSerializer(page, many=True).data)

    @extend_schema(request=AgentInputSerializer, responses={201: AgentOutputSerializer})
    def post(self, request):
        serializer = AgentInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        model = catalog_model(data.pop("model_id"))
        change = agent_services.agent_create(tenant=request.tenant, model=model, actor=request.user, **data)
        return agent_response(request, change.agent, notices=change.notices, status_code=status.HTTP_201_CREATED)


class AgentDetailApi(APIView):
    parser_classes = JSON_ONLY

    @extend_schema(responses=AgentOutputSerializer)
    def get(self, request, agent_id):
        return agent_response(request, tenant_agent(request, agent_id))

    @extend_schema(request=AgentInputSerializer(partial=True), responses=AgentOutputSerializer)
    def patch(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        serializer = AgentInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        if "model_id" in changes:
            changes["model"] = catalog_model(changes.pop("model_id"))
        change = agent_services.agent_update(agent=agent, actor=request.user, **changes)
        return agent_response(request, change.agent, notices=change.notices)

    @extend_schema(responses={204: None})
    def delete(self, request, agent_id):
        agent_services.agent_delete(agent=tenant_agent(request, agent_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AgentExportApi(APIView):
    @extend_schema(responses=dict, summary="One agent as an importable JSON document", operation_id="agent_export")
    def get(self, request, agent_id):
        return Response(selectors.agents_export(agents=[tenant_agent(request, agent_id)]))


class AgentsExportApi(APIView):
    @extend_schema(
        responses=dict, summary="All your agents as an importable JSON document", operation_id="agents_export"
    )
    def get(self, request):
        return Response(selectors.agents_export(agents=selectors.agent_list(tenant=request.tenant)))


class AgentsImportApi(APIView):
    throttle_classes = [TenantRateThrottle]
    throttle_scope = "imports"
    parser_classes = JSON_ONLY

    @extend_schema(
        request=AgentImportSerializer,
        responses={201: AgentOutputSerializer(many=True)},
        summary="Create agents from an export document, all or none",
    )
    def post(self, request):
        changes = agent_services.agents_import(tenant=request.tenant, payload=request.data, actor=request.user)
        data = [AgentOutputSerializer(c.agent, context={"notices": c.notices}).data for c in changes]
        return Response(data, status=status.HTTP_201_CREATED)


class FamilyDefaultListApi(APIView):
    @extend_schema(
        responses=paginated(FamilyDefaultSerializer),
        summary="Your caching default per model family",
        operation_id="model_families_list",
    )
    def get(self, request):
        paginator = PageNumberPagination()
        families = paginator.paginate_queryset(selectors.family_list(), request, view=self)
        context = {"defaults": selectors.family_defaults(tenant=request.tenant)}
        return paginator.get_paginated_response(FamilyDefaultSerializer(families, many=True, context=context).data)


class FamilyDefaultApi(APIView):
    required_role = Role.ADMIN

    @extend_schema(request=FamilyDefaultInputSerializer, responses=FamilyDefaultSerializer)
    def put(self, request, family_slug):
        family = get_object_or_404(selectors.family_list(), slug=family_slug)
        serializer = FamilyDefaultInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        agent_services.family_default_set(
            tenant=request.tenant,
            family=family,
            enabled=serializer.validated_data["prompt_caching_enabled"],
            actor=request.user,
        )
        context = {"defaults": selectors.family_defaults(tenant=request.tenant)}
        return Response(FamilyDefaultSerializer(family, context=context).data)


class AgentInvocationListApi(APIView):
    throttle_classes = [TenantRateThrottle]
    throttle_scope = "invocations"

    @extend_schema(
        responses=paginated(InvocationOutputSerializer),
        operation_id="agent_invocations_list",
        parameters=[
            OpenApiParameter("status", str, enum=Invocation.Status.values),
            OpenApiParameter(
                "session_id", {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK_TEXT}
            ),
            OpenApiParameter("cache_hit", str, enum=["true", "false"]),
            OpenApiParameter("miss_reason", str, enum=list(misses.REASONS), description="Why it missed the cache"),
        ],
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        invocations = selectors.invocation_list(tenant=request.tenant).filter(agent=agent)
        filters = InvocationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        for name, value in filters.validated_data.items():
            lookup = {"session_id": "session__session_id", "miss_reason": "cache_miss_reason"}.get(name, name)
            invocations = invocations.filter(**{lookup: value})
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(invocations, request, view=self)
        return paginator.get_paginated_response(InvocationOutputSerializer(page, many=True).data)

    @extend_schema(
        request=InvocationInputSerializer,
        responses={
            202: InvocationOutputSerializer,
            402: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="`budget_exhausted`: the tenant's or the agent's hard monthly budget is spent; "
                "`budget` gives the limit, the spend and the period. Nothing was queued.",
            ),
        },
    )
    def post(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        serializer = InvocationInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invocation = invocation_services.invocation_create(agent=agent, actor=request.user, **serializer.validated_data)
        return Response(InvocationOutputSerializer(invocation).data, status=status.HTTP_202_ACCEPTED)


class InvocationDetailApi(APIView):
    @extend_schema(responses=InvocationOutputSerializer)
    def get(self, request, invocation_id):
        try:
            invocation = selectors.invocation_get(tenant=request.tenant, invocation_id=invocation_id)
        except Invocation.DoesNotExist:
            raise Http404 from None
        return Response(InvocationOutputSerializer(invocation).data)


class AgentSessionListApi(APIView):
    @extend_schema(responses=paginated(SessionOutputSerializer), operation_id="agent_sessions_list")
    def get(self, request, agent_id):
        sessions = selectors.session_list(tenant=request.tenant, agent=tenant_agent(request, agent_id))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(sessions, request, view=self)
        summaries = selectors.session_summaries_of(page)
        rows = [selectors.session_row(session, summaries.get(session.pk)) for session in page]
        return paginator.get_paginated_response(SessionOutputSerializer(rows, many=True).data)


class AgentDeployApi(APIView):
    throttle_classes = [TenantRateThrottle]
    throttle_scope = "deploys"

    @extend_schema(
        request=None,
        responses={202: DeploymentOutputSerializer},
        summary="Deploy the agent's current config again, as a new version",
    )
    def post(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        deployment = deployment_services.deployment_request(agent=agent, actor=request.user, force=True)
        if deployment is None:  # the agent was deleted meanwhile
            raise Http404
        deployment.refresh_from_db()  # the eager task may already have run it
        return Response(DeploymentOutputSerializer(deployment).data, status=status.HTTP_202_ACCEPTED)


class AgentDeploymentListApi(APIView):
    @extend_schema(
        responses=paginated(DeploymentOutputSerializer),
        summary="The agent's deployments, newest first",
        operation_id="agent_deployments_list",
    )
    def get(self, request, agent_id):
        agent = tenant_agent(request, agent_id)
        deployments = selectors.deployment_list(tenant=request.tenant).filter(agent=agent)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(deployments, request, view=self)
        context = {"current_versions": selectors.current_versions(agent_ids=[agent.pk])}
        return paginator.get_paginated_response(DeploymentOutputSerializer(page, many=True, context=context).data)


class DeploymentDetailApi(APIView):
    @extend_schema(responses=DeploymentOutputSerializer)
    def get(self, request, deployment_id):
        try:
            deployment = selectors.deployment_get(tenant=request.tenant, deployment_id=deployment_id)
        except Deployment.DoesNotExist:
            raise Http404 from None
        return Response(DeploymentOutputSerializer(deployment).data)
