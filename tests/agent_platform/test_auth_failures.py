"""Guessing credentials is slowed down: failed API keys are throttled per client address, and repeated admin
login failures lock that address out for a while (django-axes). Limits come from settings."""

import datetime as dt

import pytest
import time_machine
from rest_framework.test import APIClient

from agent_platform.models import Role
from agent_platform.services import api_key_create, member_ensure

pytestmark = pytest.mark.django_db

ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.9"


@pytest.fixture
def five_failures_a_minute(settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] | {"auth_failures": "5/min"}
    }


def get(key, address):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client.get("/api/models/")


def test_wrong_keys_from_one_address_are_throttled_then_even_a_right_one(tenant, five_failures_a_minute):
    _, key = api_key_create(tenant=tenant, name="real", role=Role.VIEWER)
    start = dt.datetime(2026, 11, 18, 12, 0, 5, tzinfo=dt.UTC)

    with time_machine.travel(start, tick=False) as clock:
        assert [get(f"wrong.{n}", ATTACKER).status_code for n in range(5)] == [401] * 5
        refused = get("wrong.6", ATTACKER)
        assert refused.status_code == 429 and int(refused["Retry-After"]) == 55
        assert get(key, ATTACKER).status_code == 429  # no way to tell a right key from a wrong one now
        assert get(key, NEIGHBOUR).status_code == 200  # other addresses are not held up
        assert [get(key, NEIGHBOUR).status_code for _ in range(10)] == [200] * 10  # successes do not count

        clock.shift(dt.timedelta(seconds=56))
        assert get(key, ATTACKER).status_code == 200


def test_the_limit_is_a_setting_with_a_default():
    from django.conf import settings

    assert settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_failures"] == "20/min"
    assert settings.AXES_FAILURE_LIMIT == 5 and dt.timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_admin_logins_lock_out_after_repeated_failures(client, tenant):
    member_ensure(tenant=tenant, username="mia", password="pw-mia-123456", role=Role.MEMBER)

    def login(password, address=ATTACKER):
        return client.post("/admin/login/", {"username": "mia", "password": password}, REMOTE_ADDR=address)

    start = dt.datetime(2026, 11, 18, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(start, tick=False) as clock:
        assert [login(f"guess {n}").status_code for n in range(4)] == [200] * 4  # the form again, with an error
        assert login("guess 5").status_code == 429
        assert login("pw-mia-123456").status_code == 429  # locked out: the right password does not help
        client.logout()
        assert login("pw-mia-123456", NEIGHBOUR).status_code == 302  # another address logs in

        client.logout()
        clock.shift(dt.timedelta(minutes=16))
        assert login("pw-mia-123456").status_code == 302
