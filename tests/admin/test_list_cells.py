"""The lists' cheaper cells write what Django's own would (the checkbox the actions script selects, the yes/no
icon, the choices' labels), and times as the product's other pages show them."""

import datetime as dt

import pytest
from django.contrib import admin
from django.contrib.admin.templatetags.admin_list import _boolean_icon

from agents_app import admin_lists
from agents_app.models import Agent, Invocation
from tests.conftest import make_agent

pytestmark = pytest.mark.django_db


def test_the_action_checkbox_is_djangos(tenant):
    agent = make_agent(tenant, name='Support <"&> desk')
    model_admin = admin.site._registry[Agent]

    assert admin_lists.action_checkbox(model_admin, agent) == admin.ModelAdmin.action_checkbox(model_admin, agent)


@pytest.mark.parametrize("value", [True, False, None])
def test_the_yes_no_icon_is_djangos(value):
    assert admin_lists.yes_no_icon(value) == _boolean_icon(value)


def test_labels_and_times(settings):
    settings.TIME_ZONE = "Europe/Paris"
    invocation = Invocation(status="succeeded", cache_miss_reason="ttl_expired")

    assert admin_lists.invocation_status(invocation) == invocation.get_status_display() == "Succeeded"
    assert admin_lists.invocation_cache_miss_reason(invocation) == invocation.get_cache_miss_reason_display()
    assert admin_lists.invocation_cache_miss_reason(Invocation(cache_miss_reason="")) == "-"
    assert admin_lists.moment(dt.datetime(2026, 12, 2, 5, 59, 7, tzinfo=dt.UTC)) == "2026-12-02 06:59:07"
    assert admin_lists.moment(None) == "-"
