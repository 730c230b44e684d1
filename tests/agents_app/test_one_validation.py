"""The same input is refused the same way whichever door it comes through: the API (JSON, form or multipart),
the admin's invoke panel and the invoke_agent command."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from agents_app.models import Agent, FamilyCachingDefault, Invocation
from tests.admin.conftest import login
from tests.conftest import CLAUDE

pytestmark = pytest.mark.django_db

BAD_PROMPTS = {
    "nul byte": ("Hello\x00there", "Null characters are not allowed."),
    "blank": ("   ", "prompt must not be blank."),
}


@pytest.mark.parametrize("case", BAD_PROMPTS)
def test_a_prompt_is_refused_alike_by_the_api_the_admin_and_the_command(api, client, tenant, agent, case):
    from agent_platform.models import Role

    prompt, message = BAD_PROMPTS[case]
    login(client, tenant, Role.MEMBER, "mia")

    by_api = api.post(f"/api/agents/{agent.pk}/invocations/", {"prompt": prompt}, format="json")
    by_admin = client.post(
        f"/admin/agents_app/agent/{agent.pk}/invoke/", {"prompt": prompt}, HTTP_ACCEPT="application/json"
    )
    with pytest.raises(CommandError) as by_command:
        call_command("invoke_agent", str(agent.pk), prompt, stdout=StringIO())

    assert by_api.status_code == 400 and message in by_api.json()["prompt"][0]
    assert by_admin.status_code == 400 and message in by_admin.json()["errors"]["prompt"][0]
    assert str(by_command.value) == f"prompt: {by_api.json()['prompt'][0]}"
    assert not Invocation.objects.exists()


@pytest.mark.parametrize(
    ("prompt", "session_id", "field"),
    [("Hello\x00there", None, "prompt"), ("  ", None, "prompt"), ("Hi", "no spaces allowed", "session_id")],
)
def test_invocation_create_checks_its_input_itself(agent, prompt, session_id, field):
    """The service is the one place the doors share: a caller that skipped every view still gets the check."""
    from agent_platform.errors import ApplicationError
    from agents_app.services.invocations import invocation_create

    with pytest.raises(ApplicationError) as refused:
        invocation_create(agent=agent, prompt=prompt, session_id=session_id)

    assert refused.value.field == field
    assert not Invocation.objects.exists()


@pytest.mark.parametrize("content_type", ["form", "multipart"])
def test_a_required_boolean_is_required_in_every_content_type(api, tenant, content_type):
    FamilyCachingDefault.objects.create(
        tenant=tenant, family_id=_family("anthropic-claude"), prompt_caching_enabled=True
    )
    url = "/api/model-families/anthropic-claude/caching-default/"

    response = _send(api, "put", url, {}, content_type)

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["prompt_caching_enabled"]
    assert FamilyCachingDefault.objects.get(tenant=tenant).prompt_caching_enabled is True
    assert _send(api, "put", url, {"prompt_caching_enabled": "false"}, content_type).status_code == 200
    assert FamilyCachingDefault.objects.get(tenant=tenant).prompt_caching_enabled is False


def test_an_optional_boolean_left_out_of_an_agent_is_unset(api):
    body = {"name": "by json", "system_prompt": "You help.", "model_id": CLAUDE}

    response = _send(api, "post", "/api/agents/", body, "json")

    assert response.status_code == 201, response.content
    assert Agent.objects.get(name="by json").prompt_caching_enabled is None  # follows the family default


@pytest.mark.parametrize("content_type", ["form", "multipart"])
def test_agent_writes_take_json_only(api, agent, content_type):
    body = {"name": "by form", "system_prompt": "You help.", "model_id": CLAUDE}

    for method, url in (("post", "/api/agents/"), ("patch", f"/api/agents/{agent.pk}/")):
        assert _send(api, method, url, body, content_type).status_code == 415
    assert _send(api, "post", "/api/agents/import/", {"agents": "x"}, content_type).status_code == 415
    assert list(Agent.objects.all()) == [agent]


def _family(slug):
    from agents_app.models import ModelFamily

    return ModelFamily.objects.get(slug=slug).pk


def _send(client: APIClient, method: str, url: str, data: dict, content_type: str):
    if content_type == "json":
        return getattr(client, method)(url, data, format="json")
    if content_type == "multipart":
        return getattr(client, method)(url, data, format="multipart")
    from urllib.parse import urlencode

    return getattr(client, method)(url, urlencode(data), content_type="application/x-www-form-urlencoded")


@pytest.mark.parametrize("content_type", ["json", "form", "multipart"])
def test_a_blank_session_id_is_refused_in_every_content_type(api, agent, content_type):
    response = _send(
        api, "post", f"/api/agents/{agent.pk}/invocations/", {"prompt": "Hi", "session_id": ""}, content_type
    )

    assert response.status_code == 400, response.content
    assert list(response.json()) == ["session_id"]
    assert not Invocation.objects.exists()


@pytest.mark.parametrize("name", ["status", "session_id", "cache_hit"])
def test_a_blank_filter_is_refused_not_ignored(api, agent, name):
    response = api.get(f"/api/agents/{agent.pk}/invocations/?{name}=")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [name]
