"""Schedules and smart rosters from the command line."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import click
from flask_babel import gettext as _

from core.errors import ValidationFailed

from .base import echo_table, with_app


def _hm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@click.group()
def roster() -> None:
    """Smart rosters (排班): generate, show, publish a store's week."""


def _print_roster(roster) -> None:  # noqa: ANN001
    from core.extensions import db
    from core.models import StaffProfile
    from core.scheduling.rostering import DAY_NAMES, explain_gap

    days = [roster.week_start + timedelta(days=i) for i in range(7)]
    by_staff: dict[int, dict[date, str]] = {}
    for shift in roster.shifts:
        by_staff.setdefault(shift.staff_id, {})[shift.day] = \
            f"{_hm(shift.start_min)}-{_hm(shift.end_min)}"
    rows = []
    for staff_id, cells in sorted(by_staff.items()):
        person = db.session.get(StaffProfile, staff_id)
        rows.append([person.display_name if person else staff_id,
                     *[cells.get(d, "") for d in days]])
    status = _("published") if roster.status == "published" else _("draft")
    click.echo(_("Roster for the week of %(day)s (%(status)s):", day=roster.week_start.isoformat(),
                 status=status))
    if rows:
        echo_table([_("Staff"), *[f"{DAY_NAMES[i]} {d.day}" for i, d in enumerate(days)]], rows)
    else:
        click.echo(_("No shifts: nobody is available, or no coverage is needed."))
    if roster.gaps:
        click.echo(_("Uncovered:"))
        for gap in roster.gaps:
            click.echo("  - " + explain_gap(gap))
    else:
        click.echo(_("Every coverage rule is met."))


@roster.command("generate")
@click.option("--store", required=True, help="Store id or code.")
@click.option("--week", required=True, help="ISO week, e.g. 2026-W49.")
@click.option("--publish", is_flag=True, help="Publish at once (availability follows it).")
@with_app
def roster_generate(store: str, week: str, publish: bool) -> None:
    """Generate a week's roster from availability, opening hours and coverage rules."""
    from core.scheduling import rostering

    _print_roster(rostering.generate(store, week, publish=publish))


@roster.command("show")
@click.option("--store", required=True)
@click.option("--week", required=True)
@with_app
def roster_show(store: str, week: str) -> None:
    """Show a week's roster and its uncovered hours."""
    from core.scheduling import rostering

    _print_roster(rostering.get_roster(store, week))


@roster.command("publish")
@click.option("--store", required=True)
@click.option("--week", required=True)
@with_app
def roster_publish(store: str, week: str) -> None:
    """Publish a generated roster."""
    from core.scheduling import rostering

    rostering.publish(rostering.get_roster(store, week))
    click.echo(_("Roster published: availability now follows it for that week."))


@click.group()
def schedule() -> None:
    """Staff availability and time-off."""


@schedule.command("set")
@click.option("--staff", "staff_id", required=True, help="Staff id.")
@click.option("--store", required=True)
@click.option("--hours", required=True, help='e.g. "mon-fri 10:00-14:00,15:00-19:00"')
@with_app
def schedule_set(staff_id: str, store: str, hours: str) -> None:
    """Replace a person's weekly availability at a store (gaps are breaks)."""
    from core.scheduling.schedules import set_weekly

    n = set_weekly(staff_id, store, hours)
    click.echo(_("Weekly availability saved (%(n)d intervals).", n=n))


@schedule.command("day")
@click.option("--staff", "staff_id", required=True)
@click.option("--store", required=True)
@click.option("--date", "day", required=True, help="YYYY-MM-DD")
@click.option("--hours", help='That day\'s hours, e.g. "12:00-20:00"; omit for a day off.')
@with_app
def schedule_day(staff_id: str, store: str, day: str, hours: str | None) -> None:
    """Override one day: other hours, or a day off."""
    from core.org.hours import parse_hours
    from core.scheduling.schedules import set_override

    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise ValidationFailed(_("Not a valid date: %(value)s (use YYYY-MM-DD).",
                                 value=day)) from exc
    intervals = None
    if hours:
        weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[when.weekday()]
        intervals = [(a, b) for _d, a, b in parse_hours(f"{weekday} {hours}")]
    set_override(staff_id, store, when, intervals)
    click.echo(_("Saved."))


@schedule.command("time-off")
@click.option("--staff", "staff_id", required=True)
@click.option("--from", "start", required=True, help="ISO time with offset.")
@click.option("--to", "end", required=True, help="ISO time with offset.")
@click.option("--reason", default="")
@with_app
def schedule_time_off(staff_id: str, start: str, end: str, reason: str) -> None:
    """Record approved time-off (whole or part days)."""
    from core.scheduling.schedules import add_time_off

    try:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
    except ValueError as exc:
        raise ValidationFailed(_("Use ISO times with an offset, e.g. "
                                 "2026-12-01T09:00+08:00.")) from exc
    add_time_off(staff_id, a, b, reason)
    click.echo(_("Time-off recorded."))


@click.group()
def coverage() -> None:
    """How many people a store needs when."""


@coverage.command("add")
@click.option("--store", required=True)
@click.option("--hours", required=True, help='e.g. "mon-sun 10:00-21:00"')
@click.option("--min-staff", required=True, type=click.IntRange(1, 100))
@click.option("--service", help="Only people who perform this service count.")
@with_app
def coverage_add(store: str, hours: str, min_staff: int, service: str | None) -> None:
    """Add a coverage rule used by roster generation."""
    from core.scheduling.schedules import add_coverage

    n = add_coverage(store, hours, min_staff, service)
    click.echo(_("%(n)d coverage rules added.", n=n))
