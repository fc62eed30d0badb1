"""The incident's messages: the card, announcements, replies, the timeline and list texts, the declare modal.

Pure functions, data in and dicts out. `CardAction` is the value an incident's buttons carry, serialised and
parsed here only.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

from domain import Change, Incident, ResponseTargets, Severity, Status, TimelineEntry, format_duration
from domain.alerts import AlertRecord, AlertSummary
from domain.calendar import WEEKDAYS, BusinessCalendar
from domain.metrics import ClockKind, ClockState, clock
from domain.severity import RESOLUTION_TARGETS
from handlers.slack import ActionId, BlockId, CallbackId
from handlers.slack.blocks import (
    FIELD_LIMIT,
    MESSAGE_TEXT_LIMIT,
    TITLE_LIMIT,
    Block,
    actions,
    button,
    by,
    clip,
    escape,
    field,
    header,
    plain,
    section,
    select,
    slack_date,
)

_STATUS_EMOJI = {
    Status.DECLARED: "🚨",
    Status.ACKNOWLEDGED: "👀",
    Status.INVESTIGATING: "🔎",
    Status.IDENTIFIED: "🎯",
    Status.MONITORING: "📈",
    Status.RESOLVED: "✅",
    Status.CLOSED: "📕",
}
_SHOWN_ALERTS = 5
_CLOCK_NAMES = {ClockKind.RESPONSE: "Response", ClockKind.RESOLUTION: "Resolution"}
_STOPPED = {ClockKind.RESPONSE: "acknowledged", ClockKind.RESOLUTION: "resolved"}
_ROLES_HEADING = "*Roles*\n"


class CardAction(BaseModel):
    """The state a button about an incident carries in its `value`, parsed back when it is clicked."""

    number: int = Field(ge=1, le=999_999_999)

    def value(self) -> str:
        return self.model_dump_json()

    def option(self, choice: str) -> str:
        """A select option's value: the card state and the option chosen."""
        return f"{self.value()}|{choice}"

    @classmethod
    def parse_option(cls, value: str) -> tuple["CardAction", str]:
        """Split a select option's value back into the card state and the chosen option."""
        state, _, choice = value.rpartition("|")
        return cls.model_validate_json(state), choice


@dataclass(frozen=True)
class Clocks:
    """The targets the card's clocks run to, on the business calendar."""

    response: ResponseTargets = dataclasses.field(default_factory=ResponseTargets)
    resolution: ResponseTargets = RESOLUTION_TARGETS
    calendar: BusinessCalendar = WEEKDAYS

    def of(self, incident: Incident) -> list[ClockState]:
        start, calendar = incident.declared_at, self.calendar
        return [
            clock(ClockKind.RESPONSE, self.response.of(incident.severity), start, incident.acknowledged_at, calendar),
            clock(ClockKind.RESOLUTION, self.resolution.of(incident.severity), start, incident.resolved_at, calendar),
        ]


def card_value(incident: Incident) -> str:
    """What a button about the incident carries."""
    return CardAction(number=incident.number).value()


def short_title(incident: Incident) -> str:
    """The (mrkdwn-safe) title, at most TITLE_LIMIT characters, whatever was stored."""
    return clip(incident.title, TITLE_LIMIT)


def incident_title(incident: Incident) -> str:
    return f"#{incident.number} {short_title(incident)}"


def card_text(incident: Incident) -> str:
    """Notification text of the card (and its fallback)."""
    drill = "[DRILL] " if incident.drill else ""
    return f"{drill}{incident.severity.label} incident {incident_title(incident)}: {incident.status.value}"


def card(incident: Incident, clocks: Clocks, now: datetime, alerts: AlertSummary | None = None) -> list[Block]:
    """The pinned incident card: title, severity and target, status, commander, elapsed time, both target clocks
    (time left or the breach), alerts, buttons."""
    emoji = _STATUS_EMOJI[incident.status]
    drill = "[DRILL] " if incident.drill else ""
    blocks: list[Block] = [
        header(f"{emoji} {drill}{incident_title(incident)}"),
        {"type": "section", "fields": _fields(incident, clocks.response, now)},
        {"type": "section", "fields": [field(clock_line(state, now)) for state in clocks.of(incident)]},
    ]
    if incident.description:
        blocks.append(section(incident.description))
    if alerts is not None:
        blocks.append(section(alert_lines(alerts)))
    if incident.summary and not incident.status.is_open:
        blocks.append(section(f"*Summary:* {incident.summary}"))
    blocks.append(actions(*_card_buttons(incident), block_id=BlockId.CARD_ACTIONS))
    return blocks


def _fields(incident: Incident, targets: ResponseTargets, now: datetime) -> list[dict[str, object]]:
    target = targets.of(incident.severity)
    commander = f"<@{incident.commander}>" if incident.commander else "_unassigned_"
    end = incident.resolved_at or now
    elapsed_label = "Duration" if incident.resolved_at else "Elapsed"
    response = f"respond within {target.label}"
    if incident.acknowledged_at is None:
        response += f" (by {slack_date(target.due(incident.declared_at))})"
    fields = [
        field(f"*Severity*\n{incident.severity.label}: {response}"),
        field(f"*Status*\n{incident.status.value}"),
        field(f"*Commander*\n{commander}"),
        field(f"*{elapsed_label}*\n{format_duration(end - incident.declared_at)}"),
        field(f"*Declared*\n{slack_date(incident.declared_at)}" + by(incident.declared_by)),
    ]
    other_roles = {role: user for role, user in incident.roles.items() if role != "commander"}
    if other_roles:
        fields.append(field(_ROLES_HEADING + roles_text(other_roles)))
    return fields


def clock_line(state: ClockState, now: datetime) -> str:
    """A card field: the time left, the breach, or how the clock ended."""
    name = f"*{_CLOCK_NAMES[state.kind]} target* ({state.target.label})"
    if state.stopped_at is not None:
        verdict = "✅ met" if state.met() else "🔴 missed"
        return f"{name}\n{verdict}: {_STOPPED[state.kind]} after {format_duration(state.stopped_at - state.started_at)}"
    if now >= state.due:
        return f"{name}\n🔴 breached {format_duration(now - state.due)} ago"
    marker = "⚠️ " if now >= state.warn_at else "⏱ "
    return f"{name}\n{marker}{format_duration(state.due - now)} left"


def roles_text(roles: Mapping[str, str]) -> str:
    """`comms: <@U1>, scribe: <@U2>`, as many as fit in one card field, then "and N more" (never a cut mention)."""
    parts = [f"{clip(role, 80)}: <@{user}>" for role, user in sorted(roles.items())]
    for count in range(len(parts), 0, -1):
        more = len(parts) - count
        text = ", ".join(parts[:count]) + (f", and {more} more (see the timeline)" if more else "")
        if len(_ROLES_HEADING) + len(text) <= FIELD_LIMIT:
            return text
    return f"{len(parts)} roles (see the timeline)"


def _card_buttons(incident: Incident) -> list[dict[str, object]]:
    state = CardAction(number=incident.number)
    if incident.status is Status.CLOSED:
        return [button("Postmortem", ActionId.POSTMORTEM_START, state.value())]
    if incident.status is Status.RESOLVED:
        return [
            button("Start postmortem", ActionId.POSTMORTEM_START, state.value(), style="primary"),
            button("Reopen", ActionId.REOPEN, state.value()),
        ]
    buttons: list[dict[str, object]] = []
    if incident.acknowledged_at is None:
        buttons.append(button("Acknowledge", ActionId.ACKNOWLEDGE, state.value(), style="primary"))
    statuses = [s for s in Status if s.is_open and s not in {incident.status, Status.DECLARED}]
    buttons.append(
        select("Change status", ActionId.CHANGE_STATUS, [(s.value, state.option(s.value)) for s in statuses])
    )
    severities = [s for s in Severity if s is not incident.severity]
    buttons.append(
        select("Change severity", ActionId.CHANGE_SEVERITY, [(s.label, state.option(str(s.value))) for s in severities])
    )
    buttons.append(resolve_button(incident, confirm=True))
    return buttons


def resolve_button(incident: Incident, confirm: bool, style: str = "danger") -> dict[str, object]:
    resolve = button("Resolve", ActionId.RESOLVE, card_value(incident), style=style)
    if confirm:
        resolve["confirm"] = {
            "title": plain("Resolve this incident?"),
            "text": plain(f"Incident #{incident.number} will be marked resolved."),
            "confirm": plain("Resolve"),
            "deny": plain("Cancel"),
        }
    return resolve


def announcement(incident: Incident) -> str:
    drill = "🧪 DRILL: " if incident.drill else ""
    return (
        f"{drill}🚨 {incident.severity.label} incident declared: *{incident_title(incident)}*{by(incident.declared_by)}"
        f"\nJoin <#{incident.channel_id}> to help."
    )


def change_in_channel(incident: Incident, change: Change, detail: str) -> str:
    """A change posted in the incident channel (today: a status update)."""
    if change is Change.UPDATE:
        return clip(f"*{_update_heading(incident)}*\n{detail}", MESSAGE_TEXT_LIMIT)
    return change_announcement(incident, change, detail)


def change_announcement(incident: Incident, change: Change, detail: str) -> str:
    """A change posted in the announcement channel, cut to a message's text limit."""
    return clip(_announced(incident, change, detail), MESSAGE_TEXT_LIMIT)


def _announced(incident: Incident, change: Change, detail: str) -> str:
    match change:
        case Change.UPDATE:
            return f"*{_update_heading(incident)}: {short_title(incident)}*\n{detail}"
        case Change.ESCALATED:
            return f"Incident #{incident.number} escalated to {incident.severity.label}: {short_title(incident)}"
        case Change.RESOLVED:
            return f"Incident #{incident.number} resolved: {short_title(incident)}" + (f"\n{detail}" if detail else "")
        case Change.REOPENED:
            return f"Incident #{incident.number} reopened: {short_title(incident)}"


def _update_heading(incident: Incident) -> str:
    return f"Update on incident #{incident.number} ({incident.severity.label}, {incident.status.value})"


def topic(incident: Incident) -> str:
    drill = "DRILL | " if incident.drill else ""
    return f"{drill}{incident.severity.label} | {incident.status.value} | {short_title(incident)}"


def declared_reply(incident: Incident) -> str:
    label, title = incident.severity.label, short_title(incident)
    return f"Declared incident #{incident.number} ({label}): {title}. Opening its channel…"


def done_reply(number: int, done: str) -> str:
    return f"✓ #{number}: {done}"


def timeline_text(incident: Incident, entries: Sequence[TimelineEntry]) -> str:
    lines = [f"*Timeline of {incident_title(incident)}*"]
    for entry in entries:
        lines.append(f"• {slack_date(entry.at)} {entry.kind.value}{by(entry.actor)}: {entry.text}")
    return clip("\n".join(lines), MESSAGE_TEXT_LIMIT)


def list_text(incidents: Sequence[Incident], now: datetime, open_count: int | None = None) -> str:
    """The open incidents listed (the most severe first, as read), and how many more are open beyond them
    (`open_count`: every open incident, default those listed)."""
    if not incidents:
        return "No open incidents. 🎉"
    lines = ["*Open incidents*" if open_count is None else f"*Open incidents: {open_count}*"]
    for incident in incidents:
        where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
        age = format_duration(now - incident.declared_at)
        lines.append(f"• {incident.severity.label} {incident_title(incident)}: {incident.status.value}, {age}{where}")
    if open_count is not None and open_count > len(incidents):
        more = open_count - len(incidents)
        lines.append(f"_…and {more} more, less severe or older_")
    return clip("\n".join(lines), MESSAGE_TEXT_LIMIT)


def action_refused(error: str) -> str:
    return f"⚠️ {error}"


def declare_modal(severity: Severity = Severity.SEV3) -> Block:
    options = [{"text": plain(s.label), "value": str(s.value)} for s in Severity]
    initial = next(o for o in options if o["value"] == str(severity.value))
    return {
        "type": "modal",
        "callback_id": CallbackId.DECLARE_MODAL,
        "title": plain("Declare an incident"),
        "submit": plain("Declare"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.TITLE,
                "label": plain("Title"),
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150},
            },
            {
                "type": "input",
                "block_id": BlockId.SEVERITY,
                "label": plain("Severity"),
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": options,
                    "initial_option": initial,
                },
            },
            {
                "type": "input",
                "block_id": BlockId.DESCRIPTION,
                "optional": True,
                "label": plain("Description"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2900},
            },
            {
                "type": "input",
                "block_id": BlockId.DRILL,
                "optional": True,
                "label": plain("Drill"),
                "element": {
                    "type": "checkboxes",
                    "action_id": "value",
                    "options": [
                        {"text": plain("This is a drill: label it, keep it out of every metric"), "value": "drill"}
                    ],
                },
            },
        ],
    }


def alert_lines(summary: AlertSummary) -> str:
    """`🔥 2 firing · ✅ 1 resolved` with the first few alerts and Alertmanager's "and N more" (shown on the card)."""
    counts = [f"🔥 {len(summary.firing)} firing"]
    if summary.resolved:
        counts.append(f"✅ {len(summary.resolved)} resolved")
    lines = ["*Alerts:* " + " · ".join(counts)]
    lines += [_alert_line(record) for record in summary.firing[:_SHOWN_ALERTS]]
    hidden = max(0, len(summary.firing) - _SHOWN_ALERTS) + summary.truncated
    if hidden:
        lines.append(f"and {hidden} more")
    return "\n".join(lines)


def _alert_line(record: AlertRecord) -> str:
    """Alert labels are raw text from Alertmanager: escaped here."""
    return f"• `{escape(clip(record.name, 200))}` on {escape(clip(record.where, 300))}"
