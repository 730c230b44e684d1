"""The invoke panel's endpoints and the invocation detail page."""

import datetime as dt

import pytest

from agents_app.models import Invocation
from caching.periods import utc_today
from tests.admin.conftest import page
from tests.caching.stats_data import add_invocation, at

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def invoke_url(agent):
    return f"/admin/agents_app/agent/{agent.pk}/invoke/"


def detail_url(invocation):
    return f"/admin/agents_app/invocation/{invocation.pk}/change/"


def status_url(invocation):
    return f"/admin/agents_app/invocation/{invocation.pk}/status/"


# --- Invoke ----------------------------------------------------------------------------------------


def test_member_invokes_and_gets_where_to_poll(member, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = member.post(invoke_url(agent), {"prompt": "Hello", "session_id": "chat-1"}, **JSON)

    assert response.status_code == 202
    data = response.json()
    invocation = Invocation.objects.get(pk=data["id"])
    assert invocation.agent == agent and invocation.prompt == "Hello" and invocation.session.session_id == "chat-1"
    assert data["status"] == "queued" and data["finished"] is False
    assert data["status_url"] == status_url(invocation)
    assert data["detail_url"] == detail_url(invocation)
    assert len(callbacks) == 1  # the Celery task is sent on commit (invocation_enqueue)


def test_a_new_session_when_none_is_given_and_errors_by_field(member, agent):
    data = member.post(invoke_url(agent), {"prompt": "Hi"}, **JSON).json()
    assert len(data["session_id"]) == 32

    response = member.post(invoke_url(agent), {"prompt": "  "}, **JSON)
    assert response.status_code == 400
    assert response.json()["errors"] == {"prompt": ["prompt must not be blank."]}
    response = member.post(invoke_url(agent), {"prompt": "x", "session_id": "bad id!"}, **JSON)
    assert "session_id" in response.json()["errors"]


def test_without_script_the_form_post_redirects_to_the_invocation(member, agent):
    response = member.post(invoke_url(agent), {"prompt": "Hello"})
    invocation = Invocation.objects.get()
    assert response.status_code == 302 and response["Location"] == detail_url(invocation)


def test_viewer_cannot_invoke(viewer, agent):
    response = viewer.post(invoke_url(agent), {"prompt": "Hello"}, **JSON)
    assert response.status_code == 403
    assert viewer.post(invoke_url(agent), {"prompt": "Hello"}).status_code == 403
    assert not Invocation.objects.exists()


def test_staff_of_another_tenant_cannot_invoke_nor_poll(outsider, agent):
    assert outsider.post(invoke_url(agent), {"prompt": "Hello"}, **JSON).status_code == 404
    invocation = add_invocation(agent, at(utc_today(), 0, 0), read=10)
    assert outsider.get(status_url(invocation)).status_code == 404
    assert outsider.get(detail_url(invocation)).status_code in (302, 404)
    assert not Invocation.objects.exclude(pk=invocation.pk).exists()


def test_invoke_needs_post(member, agent):
    assert member.get(invoke_url(agent)).status_code == 405


def test_status_json_of_a_finished_cache_hit(viewer, agent):
    invocation = add_invocation(agent, at(utc_today(), 0, 0), input=100, read=2000, write=500, output=10)

    data = viewer.get(status_url(invocation)).json()  # viewers may read it

    assert data["finished"] is True and data["status"] == "succeeded"
    assert data["tokens"]["cache_read_tokens"] == 2000 and data["tokens"]["uncached_input_tokens"] == 600
    assert data["tokens"]["total_input_tokens"] == 2600
    assert data["tokens"]["efficiency_ratio"] == 0.769231  # 2000 / 2600, six places
    assert data["saved_text"] == "Saved $0.0054 from cache"  # 2000 x (3 - 0.3) / 1e6
    assert data["premium_text"] == "Paid a $0.000375 cache write premium"  # 500 x 0.75 / 1e6
    assert data["money"]["net_savings"] == "0.005025"


# --- Detail ----------------------------------------------------------------------------------------


def test_detail_of_a_cache_hit_shows_the_saving_and_the_breakdown(viewer, agent):
    invocation = add_invocation(agent, at(utc_today(), 0, 0), input=100, read=2000, write=500, output=10)
    Invocation.objects.filter(pk=invocation.pk).update(
        time_to_first_token_ms=120,
        latency_ms=900,
        model_calls=[
            {"input_tokens": 60, "cache_read_tokens": 2000, "cache_write_tokens": 0, "output_tokens": 6,
             "latency_ms": 400, "stop_reason": "tool_use"},
            {"input_tokens": 40, "cache_read_tokens": 0, "cache_write_tokens": 500, "output_tokens": 4,
             "latency_ms": 450, "stop_reason": "end_turn"},
        ],
    )  # fmt: skip

    html = page(viewer.get(detail_url(invocation)))

    assert "Saved $0.0054 from cache" in html
    assert "Paid a $0.000375 cache write premium" in html
    assert 'data-stat="input_tokens">100<' in html
    assert 'data-stat="cache_read_tokens">2,000<' in html
    assert 'data-stat="cache_write_tokens">500<' in html
    assert 'data-stat="output_tokens">10<' in html
    assert "Cached input 2,000 tokens vs uncached 600 tokens (76.9% cached)" in html
    assert "Model calls (2)" in html and "tool_use" in html and "end_turn" in html
    assert 'data-stat="time_to_first_token_ms">120 ms<' in html
    assert "850 ms" in html  # model time, the sum of the calls
    assert 'name="_save"' not in html  # read-only: nothing to save


def test_detail_without_a_hit_says_nothing_about_savings(member, agent):
    miss = add_invocation(agent, at(utc_today(), 0, 0), input=100, write=2000, output=10)
    html = page(member.get(detail_url(miss)))
    assert "Saved $" not in html
    assert "Paid a $0.0015 cache write premium" in html


def test_invocation_changelist_queries_do_not_grow(member, agent, other_agent, django_assert_max_num_queries):
    today = utc_today()
    for index in range(120):
        add_invocation(agent, at(today, 0, 0) + dt.timedelta(seconds=index), session=f"s{index % 7}", read=index)
    add_invocation(other_agent, at(today, 0, 0), read=1)

    with django_assert_max_num_queries(14):
        html = page(member.get("/admin/agents_app/invocation/"))

    assert "120 invocations" in html
    assert other_agent.name not in html
