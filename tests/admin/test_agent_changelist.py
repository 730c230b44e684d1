"""The agents list: cache badge, effective caching and deploy status columns, scoped filters, bulk actions."""

import json
import re

import pytest

from agents_app.models import Agent, Deployment, FamilyCachingDefault, FoundationModel, ModelFamily
from agents_app.services import deployments as deployment_services
from tests.admin.conftest import page
from tests.conftest import CLAUDE, LLAMA, NOVA, make_agent

pytestmark = pytest.mark.django_db

URL = "/admin/agents_app/agent/"
BADGE = 'title="Prompt caching enabled"'


def rows(html: str) -> dict[str, str]:
    """Each result row's HTML, by agent name."""
    found = {}
    for chunk in html.split("<tr")[1:]:
        for agent in Agent.objects.all():
            if f">{agent.name}</a>" in chunk:
                found[agent.name] = chunk
    return found


def test_badge_next_to_the_model_only_when_caching_is_effective(member, tenant, agent):
    make_agent(tenant, NOVA, name="Nova asked", prompt_caching_enabled=True)  # asked for, cannot cache
    make_agent(tenant, name="Claude off", prompt_caching_enabled=False)
    family_on = make_agent(tenant, name="Claude by default")  # follows the family default
    FamilyCachingDefault.objects.create(tenant=tenant, family=family_on.model.family, prompt_caching_enabled=True)

    found = rows(page(member.get(URL)))

    assert BADGE in found["Support"] and "<svg" in found["Support"]
    assert BADGE in found["Claude by default"]
    assert BADGE not in found["Nova asked"]
    assert BADGE not in found["Claude off"]
    assert "on (agent)" in found["Support"]
    assert "on (family default)" in found["Claude by default"]
    assert "off, the model cannot cache (agent)" in found["Nova asked"]
    assert "off (agent)" in found["Claude off"]


def test_deploy_status_column_shows_the_newest_deployment(member, tenant, agent):
    other = make_agent(tenant, name="Never deployed")
    for version, status in [(1, Deployment.Status.DEPLOYED), (2, Deployment.Status.FAILED)]:
        Deployment.objects.create(
            tenant=tenant, agent=agent, version=version, config={}, backend="local", status=status
        )

    found = rows(page(member.get(URL)))

    assert "failed" in found["Support"] and "v1" in found["Support"]  # newest is failed, v1 still runs
    assert "never deployed" in found[other.name]


def filter_choices(html: str, parameter: str) -> list[str]:
    return sorted(set(re.findall(rf'href="\?{parameter}=([^"&]+)"', html)))


def test_family_and_model_filters_list_only_what_your_agents_use(member, tenant, other_tenant, agent, catalog):
    make_agent(tenant, NOVA, name="Nova one")
    make_agent(other_tenant, LLAMA, name="Globex llama")  # another tenant's model must not show up
    unused = FoundationModel.objects.exclude(model_id__in=[CLAUDE, NOVA, LLAMA]).first()
    unused.is_active = False  # nor an inactive (or unused) one
    unused.save()

    html = page(member.get(URL))

    assert filter_choices(html, "model__id__exact") == sorted([str(catalog[CLAUDE].pk), str(catalog[NOVA].pk)])
    families = filter_choices(html, "model__family__id__exact")
    assert families == sorted([str(catalog[CLAUDE].family_id), str(catalog[NOVA].family_id)])
    sidebar = html.split('id="changelist-filter"')[1]
    assert ModelFamily.objects.get(pk=catalog[LLAMA].family_id).name not in sidebar
    assert catalog[LLAMA].display_name not in sidebar and unused.display_name not in sidebar


def test_caching_filter_follows_the_effective_state(member, tenant, agent):
    make_agent(tenant, NOVA, name="Nova asked", prompt_caching_enabled=True)
    make_agent(tenant, name="Claude off", prompt_caching_enabled=False)
    by_default = make_agent(tenant, name="Claude by default")
    FamilyCachingDefault.objects.create(tenant=tenant, family=by_default.model.family, prompt_caching_enabled=True)

    def names(value):
        return sorted(rows(page(member.get(f"{URL}?caching={value}"))))

    assert names("on") == ["Claude by default", "Support"]
    assert names("off") == ["Claude off", "Nova asked"]
    assert names("unsupported") == ["Nova asked"]
    assert names("family") == ["Claude by default"]
    assert names("agent") == ["Claude off", "Nova asked", "Support"]


def test_other_tenants_agents_are_not_listed_nor_filtered(member, agent, other_agent):
    html = page(member.get(URL))
    assert other_agent.name not in html
    assert other_agent.tenant.name not in html


def test_export_json_action_downloads_the_import_format(member, tenant, agent, other_agent):
    response = member.post(
        URL,
        {"action": "export_json", "_selected_action": [agent.pk, other_agent.pk]},  # the other one is ignored
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="agents.json"'
    data = json.loads(response.content)
    assert data["format"] == "agent-platform.agents/v1"
    assert [a["name"] for a in data["agents"]] == ["Support"]
    assert data["agents"][0]["prompt_caching_enabled"] is True


def test_enable_caching_action_shows_the_badge_and_requests_a_deployment(member, tenant, commit):
    claude = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)
    assert BADGE not in rows(page(member.get(URL)))["Quiet"]

    with commit():
        response = member.post(URL, {"action": "enable_caching", "_selected_action": [claude.pk]}, follow=True)

    assert "Prompt caching set to on for 1 agent (Quiet); 1 redeploy queued." in page(response)
    deployment = Deployment.objects.get(agent=claude)
    assert deployment.config["prompt_caching_enabled"] is True
    assert deployment.status == Deployment.Status.DEPLOYED
    row = rows(page(member.get(URL)))["Quiet"]
    assert BADGE in row and "deployed" in row and "v1" in row


def test_viewer_has_no_caching_actions_but_can_export(viewer, agent):
    html = page(viewer.get(URL))
    assert 'value="export_json"' in html
    assert 'value="enable_caching"' not in html
    assert 'value="disable_caching"' not in html
    assert 'id="import-link"' not in html
    response = viewer.post(URL, {"action": "enable_caching", "_selected_action": [agent.pk]})
    agent.refresh_from_db()
    assert agent.prompt_caching_enabled is True  # unchanged; the action is not offered
    assert response.status_code in (200, 302)


def test_changelist_with_50_agents_is_a_fixed_number_of_queries(member, tenant, django_assert_max_num_queries):
    for index in range(50):
        agent = make_agent(tenant, NOVA if index % 3 == 0 else CLAUDE, name=f"agent {index:02}")
        Deployment.objects.create(tenant=tenant, agent=agent, version=1, config={}, backend="local", status="deployed")
    FamilyCachingDefault.objects.create(
        tenant=tenant, family=FoundationModel.objects.get(model_id=CLAUDE).family, prompt_caching_enabled=True
    )

    # Two more than before the spend columns: the page's figures are one read of the cache-stats engine (whose
    # hour markers are one query more than its day markers alone).
    with django_assert_max_num_queries(16):
        html = page(member.get(URL))

    assert html.count(BADGE) == 33  # the Claude agents (family default on); none of the 17 Nova ones
    assert "agent 49" in html


def test_caching_actions_say_exactly_what_they_did(member, tenant, commit):
    """N changed, M already so, and only the changes of the deployed config queue a redeploy."""
    caching = make_agent(tenant, name="Caching", prompt_caching_enabled=True)
    quiet = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)
    follower = make_agent(tenant, name="Follower", prompt_caching_enabled=None)
    FamilyCachingDefault.objects.create(tenant=tenant, family=follower.model.family, prompt_caching_enabled=True)
    with commit():
        for agent in (caching, quiet, follower):
            deployment_services.deployment_request(agent=agent)
    versions = {a.name: a.deployments.count() for a in (caching, quiet, follower)}

    with commit():
        response = member.post(
            URL, {"action": "enable_caching", "_selected_action": [caching.pk, quiet.pk, follower.pk]}, follow=True
        )

    text = page(response)
    # The follower's own setting changes, but it cached already through its family default: no new version.
    assert "Prompt caching set to on for 2 agents (Follower, Quiet); 1 redeploy queued." in text
    assert "Already on, left as it was: 1 agent (Caching)." in text
    assert {a.name: a.deployments.count() for a in (caching, quiet, follower)} == {**versions, "Quiet": 2}
    assert "redeploying" not in text


def test_the_caching_toggle_says_nothing_changed_when_nothing_did(member, tenant, commit):
    quiet = make_agent(tenant, name="Quiet", prompt_caching_enabled=False)

    with commit():
        response = member.post(f"/admin/agents_app/agent/{quiet.pk}/caching/toggle/", {"caching": "off"}, follow=True)

    text = page(response)
    assert "Already off, left as it was: 1 agent (Quiet)." in text
    assert "now off" not in text and "redeploy queued" not in text
    assert not Deployment.objects.filter(agent=quiet).exists()
