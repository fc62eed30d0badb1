"""The metrics capability's messages: the stats table, target warnings and breaches, update reminders.

Pure functions, data in and dicts out. `SnoozeAction` is the value a reminder's Snooze buttons carry,
serialised and parsed here only.
"""

from datetime import datetime, timedelta

from pydantic import BaseModel

from domain import Incident, format_duration
from domain.metrics import GOALS, ClockKind, ClockState, Goal
from handlers.metrics.figures import JSON, Figures
from handlers.slack import ActionId
from handlers.slack.blocks import Block, actions, button, section

SNOOZE_MINUTES = (30, 60, 90)
NONE = "n/a"  # a figure with nothing to compute it from
_CLOCK_NAMES = {ClockKind.RESPONSE: "response", ClockKind.RESOLUTION: "resolution"}
_STOPPED = {ClockKind.RESPONSE: "acknowledged", ClockKind.RESOLUTION: "resolved"}


class SnoozeAction(BaseModel):
    """What a Snooze button carries: the incident and how long to wait."""

    number: int
    minutes: int

    def value(self) -> str:
        return self.model_dump_json()

    @classmethod
    def parse(cls, value: str) -> "SnoozeAction":
        return cls.model_validate_json(value)


def stats_text(figures: Figures) -> str:
    """The notification text (and fallback) of the stats reply."""
    body = figures.json()
    return f"Incident stats {figures.query.window.label}: {body['incidents']} incidents, {body['open_incidents']} open"


def stats_blocks(figures: Figures, command: str) -> list[Block]:
    """A compact table: each figure, the goal beside it, and whether it is met."""
    body = figures.json()
    scope = [figures.query.window.label]
    scope += [f"service {figures.query.service}"] if figures.query.service else []
    scope += [figures.query.severity.label] if figures.query.severity else []
    rows = [["Figure", "Value", "Goal", "Met"]]
    rows.append(_duration_row("MTTA", _json(body["mtta"]), GOALS["mtta"]))
    rows.append(_duration_row("MTTR", _json(body["mttr"]), GOALS["mttr"]))
    detect = _json(body["time_to_detect"])
    rows.append(["Time to detect", _seconds(detect["mean_seconds"]), "", ""])
    for item in _items(body["severities"]):
        rows.append(_compliance_row(item, "response"))
        rows.append(_compliance_row(item, "resolution"))
    for item in _items(body["services"]):
        rows.append(
            [
                f"MTBF {item['service']} ({_incidents(item['count'])})",
                _seconds(item["mtbf_seconds"]),
                _goal(GOALS["mtbf"]),
                _met(item["mtbf_met"]),
            ]
        )
        available = f"{float(str(item['availability_percent'])):.3f} %"
        rows.append(
            [f"Availability {item['service']}", available, _goal(GOALS["availability"]), _met(item["availability_met"])]
        )
    counts = ", ".join(f"{_json(i)['severity_label']}: {_json(i)['count']}" for i in _items(body["severities"]))
    summary = (
        f"*Incident stats* ({', '.join(scope)}): {body['incidents']} incidents"
        + (f" ({counts})" if counts else "")
        + f", {body['open_incidents']} still open (in no average). Drills are left out."
        + f"\nOpen now: {body['open_incidents_now']}. Action items: {_json(body['action_items'])['open']} open,"
        + f" {_json(body['action_items'])['overdue']} overdue."
        + f"\n`{command} stats [7d|30d|90d|<from>..<to>] [service:<name>] [sev<n>]`"
    )
    return [section(summary), {"type": "table", "rows": [[_cell(text) for text in row] for row in rows[:100]]}]


def warning(incident: Incident, state: ClockState, now: datetime) -> str:
    left = format_duration(state.due - now)
    return (
        f"⚠️ Incident #{incident.number} ({incident.severity.label}): {left} left to meet the "
        f"{_CLOCK_NAMES[state.kind]} target of {state.target.label}."
    )


def breach(incident: Incident, state: ClockState) -> str:
    return (
        f"🔴 Incident #{incident.number} ({incident.severity.label}) breached its {_CLOCK_NAMES[state.kind]} target "
        f"of {state.target.label}: not {_STOPPED[state.kind]} in time."
    )


def breach_entry(state: ClockState) -> str:
    return f"{_CLOCK_NAMES[state.kind].capitalize()} target of {state.target.label} breached"


def reminder_text(incident: Incident, command: str) -> str:
    who = f"<@{incident.commander}>" if incident.commander else "Commander (none assigned yet)"
    return f"⏰ {who}: time for a status update on incident #{incident.number}. Post it with `{command} update <text>`."


def reminder(incident: Incident, command: str) -> list[Block]:
    buttons = [
        button(
            f"Snooze {minutes} min",
            ActionId.SNOOZE_REMINDER,
            SnoozeAction(number=incident.number, minutes=minutes).value(),
        )
        for minutes in SNOOZE_MINUTES
    ]
    return [section(reminder_text(incident, command)), actions(*buttons)]


def snoozed(number: int, length: timedelta) -> str:
    return f"Reminder for incident #{number} snoozed for {format_duration(length)}."


def _duration_row(name: str, stats: JSON, goal: Goal) -> list[str]:
    value = _seconds(stats["mean_seconds"])
    if stats["count"]:
        value += f" (median {_seconds(stats['median_seconds'])}, p90 {_seconds(stats['p90_seconds'])})"
    return [name, value, _goal(goal), _met(stats.get("met"))]


def _compliance_row(item: JSON, clock: str) -> list[str]:
    percent = item[f"{clock}_compliance_percent"]
    judged = item[f"{clock}_judged"]
    value = NONE if percent is None else f"{float(str(percent)):.0f} % of {judged}"
    met = None if percent is None else float(str(percent)) == 100.0
    return [f"{item['severity_label']} {clock} in target", value, f"within {item[f'{clock}_target']}", _met(met)]


def _incidents(count: object) -> str:
    return "1 incident" if count == 1 else f"{count} incidents"


def _goal(goal: Goal) -> str:
    limit = f"{goal.limit:g} %" if goal.unit == "%" else format_duration(timedelta(seconds=goal.limit))
    return f"{goal.comparison.value} {limit}"


def _met(value: object) -> str:
    if not isinstance(value, bool):
        return NONE
    return "✅" if value else "❌"


def _seconds(value: object) -> str:
    return NONE if value is None else format_duration(timedelta(seconds=float(str(value))))


def _json(value: object) -> JSON:
    assert isinstance(value, dict)
    return value


def _items(value: object) -> list[JSON]:
    assert isinstance(value, list)
    return [_json(item) for item in value]


def _cell(text: str) -> dict[str, object]:
    return {"type": "raw_text", "text": text or " "}
