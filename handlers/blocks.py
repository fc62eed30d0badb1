"""Block Kit builders and user-facing text. Pure functions: data in, dicts out."""

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel

from domain import Incident, ResponseTargets, Severity, Status, TimelineEntry, format_duration
from domain.alerts import AlertRecord, AlertSummary
from domain.rotation import Shift
from handlers.grammar import USAGE
from handlers.ids import ActionId, BlockId, CallbackId

Block = dict[str, object]

_STATUS_EMOJI = {
    Status.DECLARED: "🚨",
    Status.ACKNOWLEDGED: "👀",
    Status.INVESTIGATING: "🔎",
    Status.IDENTIFIED: "🎯",
    Status.MONITORING: "📈",
    Status.RESOLVED: "✅",
}
_SECTION_LIMIT = 3000


class CardAction(BaseModel):
    """The state a card button carries in its `value`, parsed back when it is clicked."""

    number: int


class AlertGroupAction(BaseModel):
    """The "Declare incident" button of an alert group's message names the group."""

    group_key: str


_SHOWN_ALERTS = 5
_BUTTON_VALUE_LIMIT = 2000


def _text(text: str) -> dict[str, object]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, object]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _section(text: str) -> Block:
    if len(text) > _SECTION_LIMIT:
        text = text[: _SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": _text(text)}


def _slack_date(at: datetime) -> str:
    """A date each reader sees in their own timezone."""
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{at:%Y-%m-%d %H:%M} UTC>"


def incident_title(incident: Incident) -> str:
    return f"#{incident.number} {incident.title}"


def card_text(incident: Incident) -> str:
    """Notification text of the card (and its fallback)."""
    return f"{incident.severity.label} incident {incident_title(incident)}: {incident.status.value}"


def card(
    incident: Incident, targets: ResponseTargets, now: datetime, alerts: AlertSummary | None = None
) -> list[Block]:
    """The pinned incident card: title, severity and target, status, commander, elapsed time, alerts, buttons."""
    emoji = _STATUS_EMOJI[incident.status]
    header = f"{emoji} {incident_title(incident)}"
    blocks: list[Block] = [
        {"type": "header", "text": _plain(header[:150])},
        {"type": "section", "fields": _fields(incident, targets, now)},
    ]
    if incident.description:
        blocks.append(_section(incident.description))
    if alerts is not None:
        blocks.append(_section(alert_lines(alerts)))
    if incident.summary and incident.status is Status.RESOLVED:
        blocks.append(_section(f"*Summary:* {incident.summary}"))
    blocks.append({"type": "actions", "block_id": BlockId.CARD_ACTIONS, "elements": _card_buttons(incident)})
    return blocks


def _fields(incident: Incident, targets: ResponseTargets, now: datetime) -> list[dict[str, object]]:
    target = targets.of(incident.severity)
    commander = f"<@{incident.commander}>" if incident.commander else "_unassigned_"
    end = incident.resolved_at or now
    elapsed_label = "Duration" if incident.resolved_at else "Elapsed"
    response = f"respond within {target.label}"
    if incident.acknowledged_at is None:
        response += f" (by {_slack_date(target.due(incident.declared_at))})"
    fields = [
        _text(f"*Severity*\n{incident.severity.label}: {response}"),
        _text(f"*Status*\n{incident.status.value}"),
        _text(f"*Commander*\n{commander}"),
        _text(f"*{elapsed_label}*\n{format_duration(end - incident.declared_at)}"),
        _text(f"*Declared*\n{_slack_date(incident.declared_at)}" + _by(incident.declared_by)),
    ]
    other_roles = {role: user for role, user in incident.roles.items() if role != "commander"}
    if other_roles:
        fields.append(_text("*Roles*\n" + ", ".join(f"{r}: <@{u}>" for r, u in sorted(other_roles.items()))))
    return fields


def _by(user: str | None) -> str:
    return f" by <@{user}>" if user else ""


def _card_buttons(incident: Incident) -> list[dict[str, object]]:
    value = _card_value(incident)
    if incident.status is Status.RESOLVED:
        return [_button("Reopen", ActionId.REOPEN, value)]
    buttons: list[dict[str, object]] = []
    if incident.acknowledged_at is None:
        buttons.append(_button("Acknowledge", ActionId.ACKNOWLEDGE, value, style="primary"))
    statuses = [s for s in Status if s not in {incident.status, Status.DECLARED, Status.RESOLVED}]
    buttons.append(
        _select("Change status", ActionId.CHANGE_STATUS, [(s.value, f"{value}|{s.value}") for s in statuses])
    )
    severities = [s for s in Severity if s is not incident.severity]
    buttons.append(
        _select("Change severity", ActionId.CHANGE_SEVERITY, [(s.label, f"{value}|{s.value}") for s in severities])
    )
    resolve = _button("Resolve", ActionId.RESOLVE, value, style="danger")
    resolve["confirm"] = {
        "title": _plain("Resolve this incident?"),
        "text": _plain(f"Incident #{incident.number} will be marked resolved."),
        "confirm": _plain("Resolve"),
        "deny": _plain("Cancel"),
    }
    buttons.append(resolve)
    return buttons


def _card_value(incident: Incident) -> str:
    """What a button about the incident carries, parsed back by `CardAction` when it is clicked."""
    return CardAction(number=incident.number).model_dump_json()


def _button(text: str, action_id: ActionId, value: str, style: str | None = None) -> dict[str, object]:
    button: dict[str, object] = {"type": "button", "text": _plain(text), "action_id": action_id, "value": value}
    if style:
        button["style"] = style
    return button


def _select(placeholder: str, action_id: ActionId, options: Sequence[tuple[str, str]]) -> dict[str, object]:
    return {
        "type": "static_select",
        "placeholder": _plain(placeholder),
        "action_id": action_id,
        "options": [{"text": _plain(label), "value": value} for label, value in options],
    }


def parse_select_value(value: str) -> tuple[CardAction, str]:
    """Split a select option's value back into the card state and the chosen option."""
    state, _, choice = value.rpartition("|")
    return CardAction.model_validate_json(state), choice


def announcement(incident: Incident) -> str:
    return (
        f"🚨 {incident.severity.label} incident declared: *{incident_title(incident)}*{_by(incident.declared_by)}"
        f"\nJoin <#{incident.channel_id}> to help."
    )


def topic(incident: Incident) -> str:
    return f"{incident.severity.label} | {incident.status.value} | {incident.title}"


def declared_reply(incident: Incident) -> str:
    return f"Declared incident #{incident.number} ({incident.severity.label}): {incident.title}. Opening its channel…"


def timeline_text(incident: Incident, entries: Sequence[TimelineEntry]) -> str:
    lines = [f"*Timeline of {incident_title(incident)}*"]
    for entry in entries:
        lines.append(f"• {_slack_date(entry.at)} {entry.kind.value}{_by(entry.actor)}: {entry.text}")
    text = "\n".join(lines)
    return text if len(text) <= 39000 else text[:38999] + "…"


def list_text(incidents: Sequence[Incident], now: datetime) -> str:
    if not incidents:
        return "No open incidents. 🎉"
    lines = ["*Open incidents*"]
    for incident in incidents:
        where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
        age = format_duration(now - incident.declared_at)
        lines.append(f"• {incident.severity.label} {incident_title(incident)}: {incident.status.value}, {age}{where}")
    return "\n".join(lines)


def help_text(command: str) -> str:
    lines = [f"*{command}* subcommands (inside an incident channel, or prefixed with the number: `{command} #42 ack`):"]
    lines += [f"• `{command} {usage}`" for usage in USAGE.values()]
    return "\n".join(lines)


def usage_error(message: str, command: str) -> str:
    return f"⚠️ {message}\nSee `{command} help` for every subcommand."


def no_incident_here(command: str, verb_usage: str) -> str:
    return (
        f"⚠️ This channel is not an incident channel. Name the incident: `{command} #<number> {verb_usage}`, "
        f"or see `{command} list`."
    )


def slack_failed(number: int, method_errors: Sequence[str]) -> str:
    return (
        f"⚠️ Incident #{number} is saved, but Slack refused part of the update ({', '.join(method_errors)}). "
        "The timeline is intact; the next action on the incident retries the card."
    )


def unexpected_error(error_id: str) -> str:
    return f"⚠️ Something went wrong on our side (error {error_id}). Nothing you entered was lost; please try again."


def declare_modal(severity: Severity = Severity.SEV3) -> Block:
    options = [{"text": _plain(s.label), "value": str(s.value)} for s in Severity]
    initial = next(o for o in options if o["value"] == str(severity.value))
    return {
        "type": "modal",
        "callback_id": CallbackId.DECLARE_MODAL,
        "title": _plain("Declare an incident"),
        "submit": _plain("Declare"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": BlockId.TITLE,
                "label": _plain("Title"),
                "element": {"type": "plain_text_input", "action_id": "value", "max_length": 150},
            },
            {
                "type": "input",
                "block_id": BlockId.SEVERITY,
                "label": _plain("Severity"),
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
                "label": _plain("Description"),
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True, "max_length": 2900},
            },
        ],
    }


def alert_lines(summary: AlertSummary) -> str:
    """`🔥 2 firing · ✅ 1 resolved` with the first few alerts and Alertmanager's "and N more"."""
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
    return f"• `{record.name}` on {record.where}"


def alert_group_message(title: str, severity: Severity, summary: AlertSummary, group_key: str) -> list[Block]:
    """An alert group below the incident threshold, posted once in the alerts channel and updated in place."""
    state = "✅ resolved" if summary.all_resolved else f"{severity.label}, not an incident yet"
    blocks: list[Block] = [_section(f"*{title}* ({state})\n{alert_lines(summary)}")]
    value = AlertGroupAction(group_key=group_key).model_dump_json()
    if not summary.all_resolved and len(value) <= _BUTTON_VALUE_LIMIT:
        button = _button("Declare incident", ActionId.DECLARE_FROM_ALERTS, value, style="danger")
        blocks.append({"type": "actions", "elements": [button]})
    return blocks


def alert_group_declared(title: str, number: int, channel_id: str | None) -> list[Block]:
    where = f" in <#{channel_id}>" if channel_id else ""
    return [_section(f"*{title}*: declared as incident #{number}{where}.")]


def all_alerts_resolved(incident: Incident) -> list[Block]:
    value = _card_value(incident)
    return [
        _section(f"✅ All alerts of incident #{incident.number} have resolved. Resolve the incident when you agree."),
        {"type": "actions", "elements": [_button("Resolve", ActionId.RESOLVE, value, style="primary")]},
    ]


def runbook_message(alertname: str, title: str, text: str) -> str:
    return f"📖 *Runbook for `{alertname}`: {title}*\n{text}"


def runbook_link(alertname: str, url: str) -> str:
    return f"📖 *Runbook for `{alertname}`:* <{url}>"


def runbook_list(names: Sequence[str], command: str) -> str:
    if not names:
        return "No runbooks yet: add Markdown files to `runbooks/`."
    return "*Runbooks:* " + ", ".join(f"`{name}`" for name in names) + f"\nShow one with `{command} runbook <name>`."


def page_message(incident: Incident, targets: ResponseTargets, why: str) -> list[Block]:
    """The DM a paged person gets: what, how bad, how soon, and an Acknowledge button."""
    target = targets.of(incident.severity)
    where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
    text = (
        f"📟 *You are paged for {incident.severity.label} incident {incident_title(incident)}*{where}\n"
        f"{why}. Respond within {target.label}."
    )
    value = _card_value(incident)
    button = _button("Acknowledge", ActionId.PAGE_ACKNOWLEDGE, value, style="primary")
    return [_section(text), {"type": "actions", "elements": [button]}]


def paged_in_channel(users: Sequence[str], why: str, failed: Sequence[str] = ()) -> str:
    paged = ("📟 Paged " + ", ".join(f"<@{u}>" for u in users) + f" ({why}).") if users else ""
    unreached = (
        ("⚠️ Could not page " + ", ".join(f"<@{u}>" for u in failed) + ": Slack refused the DM.") if failed else ""
    )
    return "\n".join(line for line in (paged, unreached) if line)


def nobody_acknowledged(incident: Incident) -> str:
    return f"🚨 Nobody acknowledged incident {incident_title(incident)} after the whole escalation policy."


def oncall_text(rotation: str, shifts: Sequence[Shift]) -> str:
    """`*primary*: <@U1> until <date>, then <@U2> until <date>` — dates in each reader's own timezone."""
    parts = [
        f"<@{shift.user}>{' (override)' if shift.override else ''} until {_slack_date(shift.end)}" for shift in shifts
    ]
    return f"*{rotation}*: " + ", then ".join(parts)


def override_done(rotation: str, user: str, until: datetime) -> str:
    return f"✓ <@{user}> is on call for *{rotation}* until {_slack_date(until)}."


def handoff_text(rotation: str, until: datetime) -> str:
    return f"🔔 You are now on call for *{rotation}* until {_slack_date(until)}. Good luck, and thank you."
