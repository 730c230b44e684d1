"""Per-tenant application inference profiles, so AWS's own bill splits Bedrock's cost by tenant.

With BEDROCK_TENANT_INFERENCE_PROFILES on, the deployer gives every tenant one
application inference profile per model its agents use, the first time an
agent of that tenant deploys on that model: `CreateInferenceProfile` copies
the model (its system-defined cross-region profile, such as
`us.anthropic.claude-sonnet-4-6`, or the foundation model) and tags the copy
with the tenant (`agent-platform:tenant`, `agent-platform:tenant-id`;
activate them as cost-allocation tags in the Billing console). The ARN is
stored (`TenantInferenceProfile`) and reused by every later deployment; the
deployed AGENT_CONFIG_JSON carries it as `inference_profile_arn`, and the
runtime sends it as the calls' `modelId`.

Created once: the profile is looked up by its name before it is created, and
a creation that loses a race with another worker (ConflictException) takes
the one that won, so a retried or concurrent deploy never makes a second.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re

import boto3
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError
from django.conf import settings

from agent_platform.models import Tenant
from agents_app.models import Deployment, TenantInferenceProfile
from bedrock import facts

logger = logging.getLogger(__name__)

TENANT_TAG = "agent-platform:tenant"
TENANT_ID_TAG = "agent-platform:tenant-id"
_SEPARATORS = re.compile(r"[^0-9a-zA-Z]+")


@functools.lru_cache(maxsize=8)
def _client(endpoint_url: str, region: str):
    return boto3.session.Session().client(
        "bedrock",
        region_name=region,
        endpoint_url=endpoint_url or None,
        config=BotocoreConfig(retries={"max_attempts": 3, "mode": "standard"}),
    )


def control_client():
    return _client(settings.AWS_ENDPOINT_URL_BEDROCK, settings.AWS_REGION)


def profile_name(tenant: Tenant, model_id: str) -> str:
    """`<prefix>-t<tenant id>-<model id, separators as ->`, within Bedrock's 64 characters and name pattern."""
    name = f"{settings.BEDROCK_INFERENCE_PROFILE_PREFIX}-t{tenant.pk}-{_SEPARATORS.sub('-', model_id).strip('-')}"
    if len(name) > facts.INFERENCE_PROFILE_NAME_MAX:
        digest = hashlib.sha256(model_id.encode()).hexdigest()[:8]
        name = f"{name[: facts.INFERENCE_PROFILE_NAME_MAX - 9].rstrip('-')}-{digest}"
    return name


def source_arn(client, model_id: str) -> str:
    """The ARN a profile of `model_id` copies: its system-defined cross-region profile's, or the foundation model's."""
    if facts.base_model_id(model_id) != model_id:
        return client.get_inference_profile(inferenceProfileIdentifier=model_id)["inferenceProfileArn"]
    return f"arn:aws:bedrock:{client.meta.region_name}::foundation-model/{model_id}"


def _find(client, name: str) -> str | None:
    for page in client.get_paginator("list_inference_profiles").paginate(typeEquals="APPLICATION"):
        for profile in page.get("inferenceProfileSummaries", []):
            if profile["inferenceProfileName"] == name:
                return profile["inferenceProfileArn"]
    return None


def inference_profile_ensure(*, tenant: Tenant, model_id: str) -> str:
    """The ARN of the tenant's profile of `model_id`, created on first use."""
    stored = TenantInferenceProfile.objects.filter(tenant=tenant, model_id=model_id).first()
    if stored is not None:
        return stored.arn
    client = control_client()
    name = profile_name(tenant, model_id)
    arn = _find(client, name)
    if arn is None:
        try:
            arn = client.create_inference_profile(
                inferenceProfileName=name,
                description=f"Tenant {tenant.slug} on {model_id}"[:200],
                modelSource={"copyFrom": source_arn(client, model_id)},
                tags=[{"key": TENANT_TAG, "value": tenant.slug}, {"key": TENANT_ID_TAG, "value": str(tenant.pk)}],
            )["inferenceProfileArn"]
            logger.info("tenant %s: created inference profile %s (%s)", tenant.pk, name, arn)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConflictException":
                raise
            arn = _find(client, name)
            if arn is None:
                raise
    profile, _ = TenantInferenceProfile.objects.get_or_create(
        tenant=tenant, model_id=model_id, defaults={"name": name, "arn": arn}
    )
    return profile.arn


def stored_profile_arn(*, tenant_id: int, model_id: str) -> str | None:
    """The tenant's profile of `model_id` when the setting is on and the deployer made one; None otherwise."""
    if not settings.BEDROCK_TENANT_INFERENCE_PROFILES:
        return None
    return (
        TenantInferenceProfile.objects.filter(tenant_id=tenant_id, model_id=model_id)
        .values_list("arn", flat=True)
        .first()
    )


def deployment_profile_apply(deployment: Deployment) -> None:
    """Put the tenant's profile of the deployment's model into its config (created first if need be)."""
    if not settings.BEDROCK_TENANT_INFERENCE_PROFILES or deployment.config.get("inference_profile_arn"):
        return
    arn = inference_profile_ensure(tenant=deployment.tenant, model_id=deployment.config["model_id"])
    deployment.config = {**deployment.config, "inference_profile_arn": arn}
    Deployment.objects.filter(pk=deployment.pk).update(config=deployment.config)
