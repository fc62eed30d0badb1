"""Alert messages: below-threshold groups in the alerts channel, the all-resolved notice, runbooks.

`AlertGroupAction` is the value the "Declare incident" button carries, serialised and parsed here only.
"""

from collections.abc import Sequence

from pydantic import BaseModel

from domain import Incident, Severity
from domain.alerts import AlertSummary
from handlers.incidents.messages import alert_lines, resolve_button
from handlers.slack import ActionId
from handlers.slack.blocks import BUTTON_VALUE_LIMIT, TITLE_LIMIT, Block, actions, button, clip, escape, link, section


class AlertGroupAction(BaseModel):
    """The "Declare incident" button of an alert group's message names the group."""

    group_key: str


def alert_group_message(title: str, severity: Severity, summary: AlertSummary, group_key: str) -> list[Block]:
    """An alert group below the incident threshold, posted once in the alerts channel and updated in place.
    `title` is the group's raw title from Alertmanager."""
    state = "✅ resolved" if summary.all_resolved else f"{severity.label}, not an incident yet"
    blocks: list[Block] = [section(f"*{group_text(title)}* ({state})\n{alert_lines(summary)}")]
    value = AlertGroupAction(group_key=group_key).model_dump_json()
    if not summary.all_resolved and len(value) <= BUTTON_VALUE_LIMIT:
        blocks.append(actions(button("Declare incident", ActionId.DECLARE_FROM_ALERTS, value, style="danger")))
    return blocks


def group_text(title: str) -> str:
    """A group's raw title (an alert summary), as mrkdwn-safe text of a sensible length."""
    return escape(clip(title, TITLE_LIMIT))


def alert_group_declared(title: str, number: int, channel_id: str | None) -> list[Block]:
    """`title` is the incident's (mrkdwn-safe) title."""
    where = f" in <#{channel_id}>" if channel_id else ""
    return [section(f"*{title}*: declared as incident #{number}{where}.")]


def group_follows(number: int) -> str:
    return f"Incident #{number} follows this alert group."


def all_alerts_resolved(incident: Incident) -> list[Block]:
    return [
        section(f"✅ All alerts of incident #{incident.number} have resolved. Resolve the incident when you agree."),
        actions(resolve_button(incident, confirm=False, style="primary")),
    ]


def runbook_message(alertname: str, title: str, text: str) -> str:
    """`alertname` (from an alert) and `title` are escaped; `text` is the runbook's own mrkdwn."""
    return f"📖 *Runbook for `{escape(clip(alertname, 200))}`: {escape(clip(title, 200))}*\n{text}"


def runbook_link(alertname: str, url: str) -> str:
    """An alert's `runbook_url` annotation: a link only when it is a plain http(s) URL, else shown as text."""
    return f"📖 *Runbook for `{escape(clip(alertname, 200))}`:* {link(clip(url, 2000), clip(url, 2000))}"


def runbook_list(names: Sequence[str], command: str) -> str:
    if not names:
        return "No runbooks yet: add Markdown files to `runbooks/`."
    return "*Runbooks:* " + ", ".join(f"`{name}`" for name in names) + f"\nShow one with `{command} runbook <name>`."


def no_such_runbook(name: str, names: Sequence[str]) -> str:
    return f"There is no runbook `{escape(clip(name, 100))}`. Runbooks: {', '.join(names) or 'none yet'}."


def dead_lettered(group_key: str, attempts: int, error: str) -> str:
    """The alerts-channel notice for a notification the worker gave up on."""
    return (
        f":rotating_light: An Alertmanager notification for group `{escape(clip(group_key, 500))}` could not "
        f"be stored after {attempts} attempts ({error}). It is kept in the dead-letter stream: run "
        "`firebreak alerts retry-dead` to queue it again. The group's next repeat is admitted meanwhile."
    )
