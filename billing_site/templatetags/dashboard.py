"""`{% billing_dashboard as dashboard %}` on the admin index: figures and chart geometry.

The chart is plain SVG computed here, so the page needs no JavaScript and no CDN; each
section appears only to users who may view the changelist it links to.
"""

from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from accounts.admin.display import amount_text
from billing_site import dashboard as selectors
from billing_site.cycle import DEADLINE, STEP_NAMES

register = template.Library()

CHART_WIDTH = 640
CHART_HEIGHT = 220
PAD_LEFT = 70
PAD_RIGHT = 12
PAD_TOP = 18
PAD_BOTTOM = 34
TICKS = 4


def nice_step(maximum: Decimal, ticks: int = TICKS) -> Decimal:
    """A round step (1, 2, 2.5 or 5 × 10ⁿ) so that `ticks` steps cover `maximum`."""
    if maximum <= 0:
        return Decimal(1)
    raw = Decimal(maximum) / ticks
    magnitude = Decimal(1).scaleb(raw.adjusted())  # 10 ** floor(log10(raw))
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if raw <= factor * magnitude:
            return (factor * magnitude).normalize()
    return (10 * magnitude).normalize()  # pragma: no cover - the loop always returns


def compact(amount: Decimal) -> str:
    """An axis label: 950, 1.2k, 3.5M."""
    value = Decimal(amount)
    for limit, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if abs(value) >= limit:
            text = f"{value / limit:.1f}".rstrip("0").rstrip(".")
            return f"{text}{suffix}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def chart_for(series: selectors.MonthlyBilled, invoices_url: str) -> dict:
    """Bars, grid lines and labels of one currency's chart, in SVG user units."""
    plot_w = CHART_WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = CHART_HEIGHT - PAD_TOP - PAD_BOTTOM
    peak = max((m.amount for m in series.months), default=Decimal(0))
    step = nice_step(peak)
    top = step * TICKS
    slot = plot_w / len(series.months)
    bar_w = slot * 0.62
    bars = []
    for index, month in enumerate(series.months):
        # Geometry in SVG user units; the amount's share of the axis stays a Decimal.
        share = month.amount / top if top and month.amount > 0 else Decimal(0)
        height = round(plot_h * share, 1)
        x = round(PAD_LEFT + slot * index + (slot - bar_w) / 2, 1)
        query = urlencode(
            {
                "currency__exact": series.currency,
                "issued_on__gte": month.month.isoformat(),
                "issued_on__lt": _next_month(month.month).isoformat(),
            }
        )
        bars.append(
            {
                "x": x,
                "y": round(PAD_TOP + plot_h - height, 1),
                "width": round(bar_w, 1),
                "height": height,
                "label_x": round(x + bar_w / 2, 1),
                "month": month.month,
                "month_label": month.month.strftime("%b"),
                "year_label": month.month.strftime("%Y")
                if index == 0 or month.month.month == 1
                else "",
                "amount": amount_text(month.amount, series.currency),
                "short": compact(month.amount),
                "value_y": round(PAD_TOP + plot_h - height - 4, 1),
                "count": month.count,
                "url": f"{invoices_url}?{query}",
            }
        )
    grid = []
    for tick in range(TICKS + 1):
        value = step * tick
        y = round(PAD_TOP + plot_h - plot_h * tick / TICKS, 1)
        grid.append({"y": y, "label": compact(value), "label_y": y + 4})
    return {
        "currency": series.currency,
        "total": amount_text(series.total, series.currency),
        "count": sum(m.count for m in series.months),
        "bars": bars,
        "grid": grid,
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot_left": PAD_LEFT,
        "plot_right": CHART_WIDTH - PAD_RIGHT,
        "plot_bottom": PAD_TOP + plot_h,
        "month_y": PAD_TOP + plot_h + 15,
        "year_y": PAD_TOP + plot_h + 28,
    }


def _next_month(first):
    return (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )


def _aging_rows(rows, invoices_url: str) -> list[dict]:
    result = []
    for row in rows:
        cells = []
        for bucket in row.buckets:
            params = {"status__in": "approved,overdue", "currency__exact": row.currency}
            if bucket.key == "current":
                # Not yet due or no due date: the admin's filters cannot say "or empty",
                # and the daily run marks an approved invoice overdue the day after it
                # is due, so the approved ones are the current ones.
                params = {"status__exact": "approved", "currency__exact": row.currency}
            else:
                if bucket.due_after:
                    params["due_date__gte"] = bucket.due_after.isoformat()
                params["due_date__lte"] = bucket.due_before.isoformat()
            cells.append(
                {
                    "key": bucket.key,
                    "amount": amount_text(bucket.amount, row.currency),
                    "count": bucket.count,
                    "url": f"{invoices_url}?{urlencode(params)}",
                    "overdue": bucket.key != "current",
                }
            )
        result.append(
            {
                "currency": row.currency,
                "cells": cells,
                "total": amount_text(row.total, row.currency),
                "count": row.count,
                "url": f"{invoices_url}?"
                + urlencode({"status__in": "approved,overdue", "currency__exact": row.currency}),
            }
        )
    return result


def _calendar(state, steps_url: str) -> dict:
    """The calendar's card, and the days to warn of: missed, or with a step behind."""
    now = state.now
    days = [
        {
            "date": day.run_date,
            "missed": day.missed(now),
            "steps": [
                {"name": step.name, "text": text}
                for step, text in day.steps()
                if text != "completed"
            ],
        }
        for day in state.late_days
    ]
    last = state.last_step
    return {
        "url": steps_url,
        "last_complete": state.last_complete,
        "last_step": {
            "name": STEP_NAMES.get(last.step, last.step),
            "date": last.run_date,
            "at": last.completed_at,
        }
        if last
        else None,
        "known": state.known,
        "warning": bool(days),
        "days": days,
        "deadline": DEADLINE,
    }


@register.simple_tag(takes_context=True)
def billing_dashboard(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.is_staff:
        return {}
    today = timezone.localdate()
    dashboard: dict = {"today": today}
    if user.has_perm("invoicing.view_invoice"):
        invoices_url = reverse("admin:invoicing_invoice_changelist")
        dashboard["aging_headers"] = [label for _k, label, *_ in selectors.AGING_BUCKETS]
        dashboard["aging"] = _aging_rows(selectors.dashboard_aging(today=today), invoices_url)
        dashboard["overdue_count"] = selectors.dashboard_overdue_invoices()
        dashboard["overdue_url"] = f"{invoices_url}?status__exact=overdue"
        dashboard["charts"] = [
            chart_for(series, invoices_url)
            for series in selectors.dashboard_billed_per_month(today=today)
        ]
    if user.has_perm("accounts.view_billingaccount"):
        dashboard["blocked_count"] = selectors.dashboard_blocked_accounts()
        dashboard["blocked_url"] = (
            reverse("admin:accounts_billingaccount_changelist") + "?credit_status__exact=blocked"
        )
    if user.has_perm("approvals.view_pendingmanualoperation"):
        pending = selectors.dashboard_pending_operations()
        dashboard["pending_count"] = pending["count"]
        dashboard["pending_oldest"] = pending["oldest"]
        dashboard["pending_url"] = reverse("admin:approvals_pendingmanualoperation_changelist")
    if user.has_perm("billing_site.view_calendarstep"):
        dashboard["calendar"] = _calendar(
            selectors.dashboard_calendar(), reverse("admin:billing_site_calendarstep_changelist")
        )
    dashboard["shown"] = len(dashboard) > 1
    return dashboard
