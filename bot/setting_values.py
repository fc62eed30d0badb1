"""Parsers of the settings' string forms (`critical=sev1,error=sev2`, `p1=7,p2=30,p3=90`, lists of dates),
each raising a message that names what is wrong."""

from datetime import date, timedelta

from domain import IncidentError, ResponseTarget, ResponseTargets, Severity, parse_duration
from domain.postmortem import Priority


def targets(sev1: str, sev2: str, sev3: str, sev4: str) -> ResponseTargets:
    parse = ResponseTarget.parse
    return ResponseTargets(sev1=parse(sev1), sev2=parse(sev2), sev3=parse(sev3), sev4=parse(sev4))


def dates(value: str) -> list[date]:
    try:
        return [date.fromisoformat(item) for item in items(value)]
    except ValueError:
        raise IncidentError(f"`{value}` is not a list of dates: write 2026-12-24,2026-12-31.") from None


def reminder_interval(value: str) -> timedelta | None:
    return None if value.strip().lower() == "off" else parse_duration(value)


def items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def severity(value: str) -> Severity:
    try:
        return Severity.parse(value)
    except IncidentError as error:
        raise ValueError(str(error)) from None


def severity_map(value: str) -> dict[str, Severity]:
    """`critical=sev1,error=sev2`: label value → severity."""
    mapping = {}
    for item in items(value):
        label, sep, named = item.partition("=")
        if not sep or not label.strip():
            raise ValueError(f"`{item}` is not `label=severity`, e.g. critical=sev1")
        mapping[label.strip().lower()] = severity(named)
    return mapping


def item_due_days(value: str) -> dict[Priority, int]:
    """`p1=7,p2=30,p3=90`: days from creation to an action item's default due date, by priority."""
    days = {}
    for item in items(value):
        priority, sep, count = item.partition("=")
        if not sep or priority.strip().lower() not in {p.value for p in Priority} or not count.strip().isdigit():
            raise ValueError(f"`{item}` is not `priority=days`, e.g. p1=7")
        days[Priority(priority.strip().lower())] = int(count)
    missing = [p.label for p in Priority if p not in days]
    if missing:
        raise ValueError(f"needs a number of days for {', '.join(missing)}")
    return days
