"""Cells the agents, sessions and invocations lists share, written to stay cheap at 100 rows a page.

Django's generic cell rendering is the larger part of a list's time once its
queries are cheap, and a few of its cells cost far more than the rest, per
row: the action checkbox goes through a form widget and its template (about
0.15 ms), a date through the localized `DATETIME_FORMAT` (0.08 ms), a field
with choices rebuilds its labels, a yes/no icon resolves its static URL. These
write the same markup directly: the checkbox exactly as Django's (the
select-all and actions script treat it as theirs), times as the product's
other pages show them (`2026-12-02 05:59:07`, in the site's time zone), labels
from a dict built once, icons from URLs resolved once per process.
"""

from __future__ import annotations

import functools

from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import InvalidPage
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _

from agents_app.models import MISS_REASONS, Invocation


def action_checkbox(modeladmin, obj) -> str:
    label = format_html(_("Select this object for an action - {}"), str(obj))
    return format_html(
        '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
        ACTION_CHECKBOX_NAME,
        obj.pk,
        label,
    )


def moment(value) -> str:
    return "-" if value is None else timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


def labels(choices) -> dict:
    """A field's choices as {value: label}, for a column that shows the label."""
    return {value: str(label) for value, label in choices}


@functools.cache
def _icon_url(value: bool | None) -> str:
    name = {True: "yes", False: "no", None: "unknown"}[value]
    return static(f"admin/img/icon-{name}.svg")


def yes_no_icon(value: bool | None) -> str:
    """Django's boolean icon (`<img src=... alt="True">`)."""
    return format_html('<img src="{}" alt="{}">', _icon_url(value), value)


# --- Columns ---------------------------------------------------------------------------------

STATUS_LABELS = labels(Invocation.Status.choices)
MISS_REASON_LABELS = labels(MISS_REASONS)


@admin.display(description="Created at", ordering="created_at")
def session_created_at(session) -> str:
    return moment(session.created_at)


@admin.display(description="Last invoked at", ordering="last_invoked_at")
def session_last_invoked_at(session) -> str:
    return moment(session.last_invoked_at)


@admin.display(description="Status", ordering="status")
def invocation_status(invocation) -> str:
    return STATUS_LABELS.get(invocation.status, invocation.status)


@admin.display(description="Cache hit", ordering="cache_hit")
def invocation_cache_hit(invocation) -> str:
    return yes_no_icon(invocation.cache_hit)


@admin.display(description="Cache miss reason", ordering="cache_miss_reason")
def invocation_cache_miss_reason(invocation) -> str:
    return MISS_REASON_LABELS.get(invocation.cache_miss_reason, "-")


@admin.display(description="Queued at", ordering="queued_at")
def invocation_queued_at(invocation) -> str:
    return moment(invocation.queued_at)


# --- Filters and counts ------------------------------------------------------------------------


class RelatedWithRowsFilter(admin.RelatedFieldListFilter):
    """`RelatedOnlyFieldListFilter`'s choices (the agents the listed rows point at) found by asking each agent
    whether any listed row points at it (EXISTS, through the rows' index on it) rather than by collecting the
    distinct agents of every listed row: its cost follows the agents, not the invocations."""

    def field_choices(self, field, request, model_admin):
        listed = model_admin.get_queryset(request).filter(**{self.field_path: OuterRef("pk")})
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to=Q(Exists(listed)), ordering=ordering)


class RelatedOnlyScopedFilter(admin.RelatedOnlyFieldListFilter):
    """`RelatedOnlyFieldListFilter` over the admin's `scoped_queryset` (the rows the user may see, without the
    list's annotations, which only slow the choices' subquery down)."""

    def field_choices(self, field, request, model_admin):
        rows = model_admin.scoped_queryset(request).distinct().values_list(f"{self.field_path}__pk", flat=True)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to={"pk__in": rows}, ordering=ordering)


def changelist_results(changelist: ChangeList, request, rows) -> None:
    """What `ChangeList.get_results` sets, over `rows` (the filtered queryset, or the ids of its rows in the order
    shown), counting the unfiltered list apart only when a filter or search narrows it: Django counts every row
    a second time for "N total" even when nothing does, and a count reads every row (on PostgreSQL, every
    partition)."""
    cl = changelist
    paginator = cl.model_admin.get_paginator(request, rows, cl.list_per_page)
    cl.result_count = paginator.count
    cl.show_full_result_count = cl.model_admin.show_full_result_count
    narrowed = cl.queryset.query.where != cl.root_queryset.query.where or cl.queryset.query.distinct
    if not cl.show_full_result_count:
        cl.full_result_count = None
    else:
        cl.full_result_count = cl.root_queryset.count() if narrowed else cl.result_count
    cl.show_admin_actions = not cl.show_full_result_count or bool(cl.full_result_count)
    cl.can_show_all = cl.result_count <= cl.list_max_show_all
    cl.multi_page = cl.result_count > cl.list_per_page
    if (cl.show_all and cl.can_show_all) or not cl.multi_page:
        cl.result_list = rows._clone() if isinstance(rows, QuerySet) else rows
    else:
        try:
            cl.result_list = paginator.page(cl.page_num).object_list
        except InvalidPage as exc:
            raise IncorrectLookupParameters from exc
    cl.paginator = paginator


class CountOnceChangeList(ChangeList):
    """A list that counts its rows once when nothing narrows it (`changelist_results`)."""

    def get_results(self, request):
        changelist_results(self, request, self.queryset)
