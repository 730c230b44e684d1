"""Scheduled per-tenant cache reports: stored once per period, mailed to tenant admins, CSV, admin, API."""

import csv
import datetime as dt
import io

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command

from agent_platform.models import Role
from agent_platform.services import member_ensure
from caching import exports, services
from caching.models import CacheReport, CacheRollupDay
from caching.periods import utc_today
from caching.tasks import cache_reports_create_due
from tests.caching.stats_data import EXPECTED, seed_support_agent

pytestmark = pytest.mark.django_db

ONE_DAY = dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admins(tenant, other_tenant):
    boss = member_ensure(tenant=tenant, username="boss", password="pw-boss-123456", role=Role.ADMIN).user
    boss.email = "boss@acme.test"
    boss.save()
    member = member_ensure(tenant=tenant, username="bob", password="pw-bob-123456", role=Role.MEMBER).user
    member.email = "bob@acme.test"
    member.save()
    member_ensure(tenant=tenant, username="noemail", password="pw-noemail-123", role=Role.ADMIN)
    theirs = member_ensure(tenant=other_tenant, username="g", password="pw-g-1234567", role=Role.ADMIN).user
    theirs.email = "g@globex.test"
    theirs.save()
    return boss


@pytest.fixture
def seeded(agent, other_agent):
    # Reports cover whole days up to yesterday: move the example back a day so it all falls in the period.
    seed_support_agent(other_agent)
    return seed_support_agent(agent, today=utc_today() - ONE_DAY)


@pytest.mark.postgres
def test_the_weekly_task_stores_one_report_per_tenant_and_mails_the_admins(admins, seeded, agent, eager):
    cache_reports_create_due.apply()

    today = utc_today()
    report = CacheReport.objects.get(tenant=agent.tenant)
    assert (report.period_start, report.period_end) == (today - 7 * ONE_DAY, today - ONE_DAY)
    assert {key: report.stats[key] for key in EXPECTED} == EXPECTED
    assert [a["agent"]["name"] for a in report.stats["agents"]] == ["Support"]
    assert report.emailed_at is not None and report.recipients == ["boss@acme.test"]
    acme = [m for m in mail.outbox if "Acme" in m.subject]
    assert len(acme) == 1 and acme[0].to == ["boss@acme.test"]
    assert "Net saving:               $0.007425" in acme[0].body
    name, content, mimetype = acme[0].attachments[0]
    assert name.endswith(".csv") and mimetype == "text/csv" and "net_savings" in content
    # Each tenant's report holds only its own invocations, and goes to its own admins.
    globex = CacheReport.objects.get(tenant__slug="globex")
    assert globex.stats["total_invocations"] == 4  # its "today" invocation is outside the period
    assert [m.to for m in mail.outbox if "Globex" in m.subject] == [["g@globex.test"]]


def test_running_again_neither_duplicates_reports_nor_emails(admins, seeded, eager):
    cache_reports_create_due.apply()
    cache_reports_create_due.apply()

    assert CacheReport.objects.count() == 2
    assert len(mail.outbox) == 2


def test_the_cadence_comes_from_the_setting(admins, seeded, agent, settings):
    settings.CACHE_REPORT_CADENCE_DAYS = 3
    today = utc_today()

    (report, *_) = services.cache_reports_create_due(tenant=agent.tenant)
    assert (report.period_start, report.period_end) == (today - 3 * ONE_DAY, today - ONE_DAY)
    # Two days later the next one is not due yet; three days later it is.
    assert services.cache_reports_create_due(today=today + 2 * ONE_DAY, tenant=agent.tenant) == [report]
    services.cache_report_send(report=report)
    assert services.cache_reports_create_due(today=today + 2 * ONE_DAY, tenant=agent.tenant) == []
    (later,) = services.cache_reports_create_due(today=today + 3 * ONE_DAY, tenant=agent.tenant)
    assert (later.period_start, later.period_end) == (today, today + 2 * ONE_DAY)


def test_a_failed_send_is_retried_not_lost(admins, seeded, agent, monkeypatch):
    (report, *_) = services.cache_reports_create_due(tenant=agent.tenant)

    def broken(self, *args, **kwargs):
        raise ConnectionError("SMTP down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", broken)
    with pytest.raises(ConnectionError):
        services.cache_report_send(report=report)
    report.refresh_from_db()
    assert report.emailed_at is None
    monkeypatch.undo()
    assert services.cache_report_send(report=report) == ["boss@acme.test"]


def test_the_command_sends_due_reports(admins, seeded):
    out = io.StringIO()

    call_command("send_cache_reports", "--tenant", "acme", stdout=out)

    assert "emailed to 1 (boss@acme.test)" in out.getvalue() and "1 of 1 report(s) emailed." in out.getvalue()
    assert CacheReport.objects.filter(tenant__slug="acme").count() == 1
    assert not CacheReport.objects.filter(tenant__slug="globex").exists()


def test_report_csv_has_the_total_days_families_and_agents(admins, seeded, agent):
    report, _ = services.cache_report_create(
        tenant=agent.tenant, period_start=seeded.yesterday - ONE_DAY, period_end=seeded.today
    )

    rows = list(csv.DictReader(io.StringIO(exports.cache_report_csv(report))))

    assert [r["section"] for r in rows] == ["total", "day", "day", "day", "family", "agent"]
    assert rows[0]["net_savings"] == "0.007425" and rows[0]["cache_hits"] == "2"
    assert rows[-1]["name"] == "Support" and rows[-1]["gross_savings"] == "0.010800"


def test_report_csv_neutralises_formulas_in_names_in_the_download_and_the_mail(client, staff_admin, seeded, agent):
    agent.name = "=cmd|' /C calc'!A0"
    agent.save()
    agent.tenant.name = "@Acme"
    agent.tenant.save()
    (report,) = [r for r in services.cache_reports_create_due() if r.tenant_id == agent.tenant_id]
    services.cache_report_send(report=report)
    client.force_login(staff_admin)

    download = client.get(f"/admin/caching/cachereport/{report.pk}/csv/").content.decode()
    (message,) = [m for m in mail.outbox if "boss@acme.test" in m.to]
    ((_, attachment, _),) = message.attachments

    for text in (download, attachment):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["name"] == "'@Acme"
        assert rows[-1]["section"] == "agent" and rows[-1]["name"] == "'=cmd|' /C calc'!A0"
        assert rows[0]["net_savings"] == "0.007425"
        assert not any(cell.startswith(("=", "@")) for row in rows for cell in row.values())


# --- API ------------------------------------------------------------------------------------------


def test_api_lists_only_the_callers_reports(api, other_api, admins, seeded):
    services.cache_reports_create_due()

    mine = api.get("/api/cache-reports/").json()
    theirs = other_api.get("/api/cache-reports/").json()

    assert mine["count"] == 1 and mine["results"][0]["stats"]["tenant"]["slug"] == "acme"
    assert theirs["count"] == 1 and theirs["results"][0]["stats"]["tenant"]["slug"] == "globex"


# --- Admin ----------------------------------------------------------------------------------------


@pytest.fixture
def staff_admin(tenant, admins):
    admins.is_staff = True
    admins.save()
    return admins


def test_admin_shows_a_readable_report_and_its_csv_to_its_tenant_only(client, staff_admin, seeded, agent):
    services.cache_reports_create_due()
    mine = CacheReport.objects.get(tenant=agent.tenant)
    theirs = CacheReport.objects.get(tenant__slug="globex")
    client.force_login(staff_admin)

    listing = client.get("/admin/caching/cachereport/")
    page = client.get(f"/admin/caching/cachereport/{mine.pk}/change/")
    download = client.get(f"/admin/caching/cachereport/{mine.pk}/csv/")

    assert listing.status_code == 200 and "0.007425" in listing.content.decode()
    html = page.content.decode()
    assert page.status_code == 200 and "Net saving" in html and "Download CSV" in html and "Support" in html
    assert download.status_code == 200 and download["Content-Type"].startswith("text/csv")
    assert b"net_savings" in download.content
    assert client.get(f"/admin/caching/cachereport/{theirs.pk}/change/").status_code in (302, 404)
    assert client.get(f"/admin/caching/cachereport/{theirs.pk}/csv/").status_code == 404
    assert "Globex" not in listing.content.decode()


def test_admin_lists_rollups_of_the_users_tenants_only(client, staff_admin, seeded, agent, other_agent):
    services.rollups_refresh(tenant=agent.tenant)
    services.rollups_refresh(tenant=other_agent.tenant)
    client.force_login(staff_admin)

    rollups = client.get("/admin/caching/dailycacherollup/").content.decode()
    days = client.get("/admin/caching/cacherollupday/").content.decode()

    assert "Support" in rollups and "Globex support" not in rollups
    assert "Acme" in days and "Globex" not in days


def test_admin_can_send_a_report_again(client, staff_admin, seeded, agent):
    services.cache_reports_create_due(tenant=agent.tenant)
    report = CacheReport.objects.get(tenant=agent.tenant)
    client.force_login(staff_admin)

    response = client.post(
        "/admin/caching/cachereport/", {"action": "send_again", "_selected_action": [report.pk]}, follow=True
    )

    assert response.status_code == 200
    assert [m.to for m in mail.outbox] == [["boss@acme.test"]]


def test_a_plain_member_cannot_resend(client, tenant, seeded, agent):
    services.cache_reports_create_due(tenant=agent.tenant)
    member = member_ensure(tenant=tenant, username="m", password="pw-m-12345678", role=Role.MEMBER).user
    User.objects.filter(pk=member.pk).update(is_staff=True, email="m@acme.test")
    client.force_login(User.objects.get(pk=member.pk))
    report = CacheReport.objects.get(tenant=agent.tenant)

    client.post("/admin/caching/cachereport/", {"action": "send_again", "_selected_action": [report.pk]})

    assert mail.outbox == []


def test_resend_mails_only_the_reports_of_tenants_the_user_administers(client, staff_admin, seeded, other_tenant):
    # Admin of Acme, only a member of Globex: selecting both reports must not mail Globex's admins.
    member_ensure(tenant=other_tenant, username="boss", password="pw-boss-123456", role=Role.MEMBER)
    services.cache_reports_create_due()
    reports = list(CacheReport.objects.values_list("pk", flat=True))
    assert len(reports) == 2
    client.force_login(staff_admin)

    client.post("/admin/caching/cachereport/", {"action": "send_again", "_selected_action": reports}, follow=True)

    assert [m.to for m in mail.outbox] == [["boss@acme.test"]]


def test_recompute_skips_the_days_of_tenants_where_the_user_only_views(client, staff_admin, seeded, other_tenant):
    member_ensure(tenant=other_tenant, username="boss", password="pw-boss-123456", role=Role.VIEWER)
    for tenant in (staff_admin.memberships.get(role=Role.ADMIN).tenant, other_tenant):
        services.rollups_refresh(tenant=tenant)
    markers = CacheRollupDay.objects.all()
    before = dict(markers.values_list("pk", "rolled_up_at"))
    assert {m.tenant_id for m in markers} == {other_tenant.pk, staff_admin.memberships.get(role=Role.ADMIN).tenant_id}
    client.force_login(staff_admin)

    client.post("/admin/caching/cacherollupday/", {"action": "recompute", "_selected_action": list(before)})

    after = dict(markers.values_list("pk", "rolled_up_at"))
    recomputed = {m.tenant_id for m in markers if after[m.pk] != before[m.pk]}
    assert recomputed == {staff_admin.memberships.get(role=Role.ADMIN).tenant_id}


def test_a_report_nobody_can_receive_says_so_and_is_sent_once_someone_can(tenant, seeded, api, client):
    """No admin with an email address: stored, not emailed, and neither the command, the API nor the admin
    claims it was; the next run sends it once an admin has an address."""
    member_ensure(tenant=tenant, username="noemail", password="pw-noemail-123", role=Role.ADMIN)
    out = io.StringIO()

    call_command("send_cache_reports", "--tenant", "acme", stdout=out)

    assert "sent to" not in out.getvalue() and "report(s) sent" not in out.getvalue()
    assert "not emailed: no admin of Acme has an email address" in out.getvalue()
    assert "0 of 1 report(s) emailed." in out.getvalue()
    report = CacheReport.objects.get(tenant=tenant)
    assert report.emailed_at is None and mail.outbox == []
    listed = api.get("/api/cache-reports/").json()["results"][0]
    assert (listed["emailed_at"], listed["recipients"]) == (None, [])
    staff = member_ensure(tenant=tenant, username="ada", password="pw-ada-1234567", role=Role.ADMIN)
    from tests.conftest import admin_login

    assert admin_login(client, "ada", "pw-ada-1234567")
    assert "not emailed yet" in client.get("/admin/caching/cachereport/").content.decode()

    staff.user.email = "ada@acme.test"
    staff.user.save()
    out = io.StringIO()
    call_command("send_cache_reports", "--tenant", "acme", stdout=out)

    assert "emailed to 1 (ada@acme.test)" in out.getvalue()
    assert [m.to for m in mail.outbox] == [["ada@acme.test"]]
    listed = api.get("/api/cache-reports/").json()["results"][0]
    assert listed["recipients"] == ["ada@acme.test"] and listed["emailed_at"] is not None
    assert "to 1 (ada@acme.test)" in client.get("/admin/caching/cachereport/").content.decode()


def test_no_report_of_zeros_before_the_first_invocation_and_a_preview_of_the_days_so_far(tenant, agent, api, client):
    """A first day: the period that just closed had no invocation, so no report; the preview shows today."""
    from tests.caching.stats_data import add_invocation, at

    add_invocation(agent, at(utc_today(), 0, 0, 5), input=50, read=2000, write=500, output=100)

    assert services.cache_reports_create_due(tenant=tenant) == []
    assert not CacheReport.objects.exists()

    preview = api.get("/api/cache-reports/preview/").json()
    assert preview["so_far"] is True
    assert preview["period_start"] == preview["period_end"] == utc_today().isoformat()
    assert preview["stats"]["total_invocations"] == 1 and preview["stats"]["net_savings"] == "0.005025"
    member_ensure(tenant=tenant, username="ada", password="pw-ada-1234567", role=Role.VIEWER)
    from tests.conftest import admin_login

    assert admin_login(client, "ada", "pw-ada-1234567")
    html = client.get("/admin/caching/cachereport/preview/").content.decode()
    assert "Current period so far" in html and "0.005025" in html
    assert 'id="report-preview-link"' in client.get("/admin/caching/cachereport/").content.decode()
