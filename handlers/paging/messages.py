"""Paging messages: the page DM, the channel notice, "nobody acknowledged", on-call texts and hand-offs."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from domain import Incident, ResponseTargets, format_duration
from domain.rotation import Shift
from handlers.incidents.messages import card_value, incident_title, short_title
from handlers.slack import ActionId
from handlers.slack.blocks import Block, actions, button, by, section, slack_date
from storage.overrides import StoredOverride

_LISTED = 50


def page_message(incident: Incident, targets: ResponseTargets, why: str) -> list[Block]:
    """The DM a paged person gets: what, how bad, how soon, and an Acknowledge button."""
    target = targets.of(incident.severity)
    where = f" in <#{incident.channel_id}>" if incident.channel_id else ""
    text = (
        f"📟 *You are paged for {incident.severity.label} incident {incident_title(incident)}*{where}\n"
        f"{why}. Respond within {target.label}."
    )
    acknowledge = button("Acknowledge", ActionId.PAGE_ACKNOWLEDGE, card_value(incident), style="primary")
    return [section(text), actions(acknowledge)]


def page_notification(incident: Incident) -> str:
    return f"Paged: {short_title(incident)}"


def paged_in_channel(users: Sequence[str], why: str, failed: Sequence[str] = (), unknown: Sequence[str] = ()) -> str:
    paged = ("📟 Paged " + ", ".join(f"<@{u}>" for u in users) + f" ({why}).") if users else ""
    unreached = (
        ("⚠️ Could not page " + ", ".join(f"<@{u}>" for u in failed) + ": Slack refused the DM.") if failed else ""
    )
    nobody = ("⚠️ Could not page " + ", ".join(unknown) + ": no Slack user has that email.") if unknown else ""
    return "\n".join(line for line in (paged, unreached, nobody) if line)


def page_unresolved_entry(name: str) -> str:
    return f"Could not page {name}: no Slack user has that email"


def webhook_failed(user: str, failure: str) -> str:
    return f"⚠️ The notification gateway never took the page for <@{user}> ({failure}): call them."


def who(member: str) -> str:
    """A member as shown: a mention for a Slack user ID, the email itself when it names nobody."""
    return member if "@" in member else f"<@{member}>"


def paged_by(actor: str) -> str:
    return f"paged by <@{actor}>"


def by_policy(policy: str) -> str:
    return f"escalation policy {policy}"


def escalated(step: int, policy: str, round_: int) -> str:
    return f"Escalated to step {step + 1} of {policy}" + (f" (repeat {round_})" if round_ else "")


def paged_entry(user: str, why: str) -> str:
    return f"Paged <@{user}> ({why})"


def page_failed_entry(user: str, failure: str) -> str:
    return f"Could not page <@{user}>: {failure}"


def nobody_acknowledged(incident: Incident) -> str:
    return f"🚨 Nobody acknowledged incident {incident_title(incident)} after the whole escalation policy."


def paging_reply(whom: str, number: int) -> str:
    return f"📟 Paging {whom} for #{number}."


def paging_not_set_up() -> str:
    return "Paging is not set up: write an on-call config (ONCALL_CONFIG, see oncall.example.yaml)."


def oncall_text(rotation: str, shifts: Sequence[Shift]) -> str:
    """`*primary*: <@U1> until <date>, then <@U2> until <date>` — dates in each reader's own timezone."""
    parts = [
        f"{who(shift.user)}{' (override)' if shift.override else ''} until {slack_date(shift.end)}" for shift in shifts
    ]
    return f"*{rotation}*: " + ", then ".join(parts)


def override_done(stored: StoredOverride, command: str) -> str:
    override = stored.override
    return (
        f"✓ <@{override.user}> is on call for *{override.rotation}* until {slack_date(override.end)} "
        f"(override {stored.id}; undo with `{command} oncall override cancel {stored.id}`)."
    )


def override_cancelled(override_id: int) -> str:
    return f"✓ Override {override_id} is cancelled."


def override_notice(stored: StoredOverride, displaced: str | None, actor: str, cancelled: bool) -> str:
    """The announcement of an override set or cancelled, in the on-call channel and to both people."""
    override = stored.override
    instead = f" instead of <@{displaced}>" if displaced and displaced != override.user else ""
    if cancelled:
        return (
            f"🔁 <@{actor}> cancelled override {stored.id}: <@{override.user}> is no longer on call for "
            f"*{override.rotation}*{instead}."
        )
    return (
        f"🔁 <@{actor}> set <@{override.user}> on call for *{override.rotation}*{instead} from "
        f"{slack_date(override.start)} until {slack_date(override.end)} (override {stored.id})."
    )


def overrides_text(rotation: str | None, overrides: Sequence[StoredOverride]) -> str:
    if not overrides:
        return f"No overrides{f' for *{rotation}*' if rotation else ''} now or ahead."
    lines = [f"*Overrides{f' for {rotation}' if rotation else ''}*"]
    for stored in overrides[:_LISTED]:
        o = stored.override
        lines.append(
            f"• {stored.id}: <@{o.user}> for *{o.rotation}* from {slack_date(o.start)} until {slack_date(o.end)}"
            + by(stored.created_by)
        )
    if len(overrides) > _LISTED:
        lines.append(f"and {len(overrides) - _LISTED} more")
    return "\n".join(lines)


def override_too_long(longest: timedelta) -> str:
    return f"An override lasts at most {format_duration(longest)} (`max_override` in the on-call config)."


def may_not_override(rotation: str) -> str:
    return f"Only members of rotation `{rotation}` (or an on-call admin) may take or give its shifts."


def may_not_cancel(override_id: int) -> str:
    return (
        f"Override {override_id} may be cancelled by its stand-in, whoever set it, the person it displaced, "
        "or an on-call admin."
    )


def no_such_override(override_id: int) -> str:
    return f"There is no override {override_id}: see `oncall overrides`."


def handoff_text(rotation: str, until: datetime) -> str:
    return f"🔔 You are now on call for *{rotation}* until {slack_date(until)}. Good luck, and thank you."


def not_a_time(text: str) -> str:
    return f"`{text}` is not a time: use 09:00 or 2026-11-26T09:00 (in the rotation's timezone)."


def in_the_past(text: str) -> str:
    return f"`{text}` is in the past."
