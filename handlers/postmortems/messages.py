"""The postmortem's messages: the draft in the channel, the published postmortem, replies, DMs and lists.

Pure builders, data in and dicts out. Every person-supplied string passes through `escape` (the shared helper
in `handlers.slack.blocks`) before it enters mrkdwn; mentions of parsed user ids and links are added after.
"""

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from domain import Incident, format_duration
from domain.postmortem import ActionItem, Postmortem, SectionKey, State, TimelineLine, is_overdue
from domain.postmortem_markdown import Durations
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId
from handlers.slack.blocks import Block, actions, button, clip, escape, header, link, mrkdwn, slack_date

CUT = "… (full text in the draft)"
_SHOWN = 2900  # a section's text on the message, within Slack's 3,000 per text object
_TITLE_SHOWN = 200
_LISTED = 20  # action items listed with buttons (two blocks each, within the 50-block message limit)


def _title(incident: Incident) -> str:
    """`#<number> <title>`, clipped (a title can be as long as whatever was stored). Titles are stored
    mrkdwn-safe (slash text as Slack escaped it, modal and alert text escaped on arrival): not escaped again."""
    return f"#{incident.number} {clip(incident.title, _TITLE_SHOWN)}"


def _who(user: str | None) -> str:
    return f"<@{user}>" if user else "_nobody_"


def _cut(text: str, limit: int = _SHOWN) -> str:
    """Cut for a message only (storage keeps every character)."""
    return text if len(text) <= limit else text[: limit - len(CUT)] + CUT


def draft_text(pm: Postmortem, incident: Incident) -> str:
    return f"Postmortem of incident {_title(incident)}: {pm.state.label}"


def draft(
    pm: Postmortem, incident: Incident, items: Sequence[ActionItem], d: Durations, key: Sequence[TimelineLine]
) -> list[Block]:
    """The draft message: facts, each section with its Edit button, the timeline's durations and key entries,
    the 5 whys, action items, review buttons."""
    ref = PostmortemRef(number=pm.number)
    blocks: list[Block] = [
        header(f"📝 Postmortem: {_title(incident)}"),
        {"type": "context", "elements": [mrkdwn(_facts(pm))]},
        _section_block(pm, SectionKey.SUMMARY),
        _timeline_block(pm, d, key),
        actions(button("Edit timeline entries", ActionId.POSTMORTEM_TIMELINE, ref.dump())),
        _section_block(pm, SectionKey.ROOT_CAUSE),
        _whys_block(pm, ref),
    ]
    blocks += [_section_block(pm, key) for key in (SectionKey.WENT_WELL, SectionKey.WENT_WRONG, SectionKey.LUCKY)]
    blocks.append(_items_block(items, ref))
    blocks.append(_section_block(pm, SectionKey.LESSONS))
    blocks.append(actions(*_review_buttons(pm, ref)))
    return blocks


def _facts(pm: Postmortem) -> str:
    facts = [f"*{pm.state.label.capitalize()}*", f"owner {_who(pm.owner)}"]
    if pm.required and pm.due:
        facts.append(f"required, due {pm.due.isoformat()}")
    if pm.reviewers:
        facts.append("reviewers " + ", ".join(_who(r) + (" ✅" if r in pm.approvals else "") for r in pm.reviewers))
    if pm.revisions:
        facts.append(f"revision {pm.revisions}")
    return " · ".join(facts)


def _edited(pm: Postmortem, key: SectionKey) -> str:
    section = pm.section(key)
    if section.edited_at is None:
        return ""
    return f"\n_Last edited by {_who(section.edited_by)} {slack_date(section.edited_at)}_"


def _edit_button(pm: Postmortem, key: SectionKey) -> dict[str, object]:
    ref = PostmortemRef(number=pm.number, section=key)
    return button("Edit", ActionId.POSTMORTEM_EDIT, ref.dump())


def _section_block(pm: Postmortem, key: SectionKey) -> Block:
    text = pm.section(key).text
    body = escape(text) if text else f"_{key.guide}_"
    edited = _edited(pm, key)
    shown = _cut(body, _SHOWN - len(key.heading) - len(edited) - 10)
    return {"type": "section", "text": mrkdwn(f"*{key.heading}*\n{shown}{edited}"), "accessory": _edit_button(pm, key)}


def _timeline_block(pm: Postmortem, d: Durations, key: Sequence[TimelineLine]) -> Block:
    met = {None: "not acknowledged", True: "met ✅", False: "missed ❌"}[d.target_met]
    lines = [
        "*Timeline*",
        f"Time to acknowledge: {_span(d.to_acknowledge)} (target {d.target.label}: {met})",
        f"Time to resolve: {_span(d.to_resolve)} · impact {_span(d.impact)} from {slack_date(d.impact_started)}",
    ]
    lines += [f"★ {slack_date(line.entry.at)} {escape(line.entry.text)}"[:300] for line in key[:5]]
    notes = pm.section(SectionKey.TIMELINE).text
    if notes:
        lines.append(_cut(escape(notes), 1500))
    edited = _edited(pm, SectionKey.TIMELINE)
    return {
        "type": "section",
        "text": mrkdwn(_cut("\n".join(lines), _SHOWN - len(edited)) + edited),
        "accessory": _edit_button(pm, SectionKey.TIMELINE),
    }


def _span(delta: timedelta | None) -> str:
    return "—" if delta is None else format_duration(delta)


def whys_lines(whys: Sequence[str]) -> str:
    if not whys:
        return "_Not started._"
    lines = [f"Problem: {escape(whys[0])}"]
    lines += [f"{i}. Why? → {escape(answer)}" for i, answer in enumerate(whys[1:], start=1)]
    return "\n".join(lines)


def _whys_block(pm: Postmortem, ref: PostmortemRef) -> Block:
    text = _cut("*5 whys*\n" + whys_lines(pm.whys))
    return {
        "type": "section",
        "text": mrkdwn(text),
        "accessory": button("Ask why", ActionId.POSTMORTEM_WHYS, ref.dump()),
    }


def item_line(item: ActionItem) -> str:
    ticket = f" · {link(item.ticket_url, 'ticket')}" if item.ticket_url else ""
    return (
        f"*{item.priority.label}* {escape(item.text)} ({item.kind.label}) · {_who(item.owner)} · due "
        f"{item.due.isoformat()} · {item.status.label}{ticket}"
    )


def _items_block(items: Sequence[ActionItem], ref: PostmortemRef) -> Block:
    lines = [f"• {item_line(item)}" for item in items] or ["_None yet: every postmortem needs at least one._"]
    text = _cut("*Action items*\n" + "\n".join(lines))
    add = button("Add action item", ActionId.POSTMORTEM_ADD_ITEM, ref.dump())
    return {"type": "section", "text": mrkdwn(text), "accessory": add}


def _review_buttons(pm: Postmortem, ref: PostmortemRef) -> list[dict[str, object]]:
    buttons = [button("Ask for review", ActionId.POSTMORTEM_ASK_REVIEW, ref.dump())]
    if pm.state is State.IN_REVIEW:
        buttons.append(button("Approve", ActionId.POSTMORTEM_APPROVE, ref.dump(), style="primary"))
        buttons.append(button("Request changes", ActionId.POSTMORTEM_REQUEST_CHANGES, ref.dump()))
    label = "Publish amendment" if pm.state is State.PUBLISHED else "Publish"
    buttons.append(button(label, ActionId.POSTMORTEM_PUBLISH, ref.dump(), style="primary"))
    return buttons


def published_text(incident: Incident, pm: Postmortem) -> str:
    verb = "published" if pm.revisions == 1 else f"amended (revision {pm.revisions})"
    return f"📕 Postmortem of incident {_title(incident)} {verb}"


def published(incident: Incident, pm: Postmortem, items: Sequence[ActionItem]) -> list[Block]:
    """The final postmortem posted in the channel: every written section in the template's order, the 5 whys
    and the action items (each cut to fit a message; the API and the export have everything)."""
    blocks: list[Block] = [header(f"📕 Postmortem: {_title(incident)}")]

    def add(heading: str, body: str) -> None:
        blocks.append({"type": "section", "text": mrkdwn(_cut(f"*{heading}*\n{body}"))})

    for key in SectionKey:
        if key is SectionKey.LESSONS:
            add("Action items", "\n".join(f"• {item_line(item)}" for item in items))
        if pm.section(key).text:
            add(key.heading, escape(pm.section(key).text))
        if key is SectionKey.ROOT_CAUSE and len(pm.whys) > 1:
            add("5 whys", whys_lines(pm.whys))
    return blocks


def published_summary(incident: Incident, pm: Postmortem) -> str:
    """The announcement in INCIDENTS_CHANNEL."""
    summary = _cut(escape(pm.section(SectionKey.SUMMARY).text), 600)
    return f"{published_text(incident, pm)} in <#{incident.channel_id}>\n{summary}"


def started_reply(number: int, created: bool) -> str:
    return (
        f"📝 Started the postmortem of #{number}: its draft is pinned in the channel."
        if created
        else (f"📝 The postmortem of #{number} is already started: its draft is pinned in the channel.")
    )


def owner_reply(number: int, owner: str) -> str:
    return f"✓ <@{owner}> owns the postmortem of #{number} now."


def refused(reason: str) -> str:
    return f"⚠️ {reason}"


def sql_unavailable(number: int) -> str:
    return (
        f"⚠️ The database did not answer, so the postmortem of #{number} was not published. "
        "The draft is intact; please try again in a moment."
    )


def review_request(incident: Incident, asker: str, permalink: str) -> str:
    where = link(permalink, "open the draft") if permalink else f"its draft is pinned in <#{incident.channel_id}>"
    return (
        f"<@{asker}> asks you to review the postmortem of incident {_title(incident)}: "
        f"{where}, then Approve or Request changes there."
    )


def changes_requested(reviewer: str, comment: str) -> str:
    return f"<@{reviewer}> requested changes:\n{_cut(escape(comment))}"


def approved(reviewer: str) -> str:
    return f"✅ <@{reviewer}> approved the postmortem."


def added_message(number: int, key: SectionKey) -> str:
    return f"✓ Added the message to *{key.heading}* of the postmortem of #{number}."


def quoted_message(text: str, author: str | None, at: datetime) -> str:
    """How a message added to a section reads (plain text: it is stored, and escaped when shown)."""
    who = f"<@{author}>" if author else "someone"
    quoted = "\n".join(f"> {line}" for line in text.splitlines() or [""])
    return f"{quoted}\n— {who}, {at:%Y-%m-%d %H:%M} UTC"


def no_postmortem_here(command: str) -> str:
    return f"This channel's incident has no postmortem yet: start it with `{command} postmortem`."


def whys_complete(number: int) -> str:
    return f"The 5 whys of #{number} are complete; edit the root cause analysis to refine them."


def which_section() -> str:
    return "Add this message to which section of the postmortem?"


def no_postmortem(number: int, command: str) -> str:
    return f"Incident #{number} has no postmortem yet: start it with `{command} postmortem` in its channel."


def item_changed(item: ActionItem) -> str:
    return f"✓ Action item {item.id} is {item.status.label} now: {escape(item.text)}"


def actions_list(items: Sequence[ActionItem], heading: str) -> list[Block]:
    """Open action items with buttons to mark them done or won't do."""
    if not items:
        return [{"type": "section", "text": mrkdwn(f"*{heading}*\nNothing to do. 🎉")}]
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(f"*{heading}*")}]
    for item in items[:_LISTED]:
        ref = PostmortemRef(number=item.number, item=item.id).dump()
        blocks.append({"type": "section", "text": mrkdwn(_cut(f"#{item.number} · {item_line(item)}"))})
        blocks.append(actions(button("Done", ActionId.ITEM_DONE, ref), button("Won't do", ActionId.ITEM_WONT_DO, ref)))
    if len(items) > _LISTED:
        blocks.append({"type": "context", "elements": [mrkdwn(f"and {len(items) - _LISTED} more")]})
    return blocks


def actions_text(items: Sequence[ActionItem], heading: str) -> str:
    return f"{heading}: {len(items)}"


def postmortems_list(pms: Sequence[Postmortem], heading: str, today: date) -> str:
    if not pms:
        return f"*{heading}*\nNone."
    lines = [f"*{heading}*"]
    for pm in pms:
        due = f", due {pm.due.isoformat()}" if pm.due else ""
        due += " (overdue)" if is_overdue(pm, today) else ""
        lines.append(f"• #{pm.number}: {pm.state.label}, owner {_who(pm.owner)}{due}")
    return "\n".join(lines)


def item_reminder(item: ActionItem, when: str) -> str:
    due = item.due.isoformat()
    return f"⏰ Action item {item.id} of incident #{item.number} is {when}: {escape(item.text)} (due {due})"


def postmortem_reminder(pm: Postmortem, when: str) -> str:
    due = pm.due.isoformat() if pm.due else "—"
    return f"⏰ The postmortem of incident #{pm.number} is {when} (due {due}); it is {pm.state.label}."


def digest(items: Sequence[ActionItem], pms: Sequence[Postmortem]) -> str:
    lines = ["*Weekly postmortem digest*", f"Overdue action items: {len(items)}"]
    lines += [f"• #{item.number} · {item_line(item)}" for item in items[:_LISTED]]
    lines.append(f"Overdue postmortems: {len(pms)}")
    lines += [f"• #{pm.number}: {pm.state.label}, owner {_who(pm.owner)}" for pm in pms[:_LISTED]]
    return _cut("\n".join(lines), 39000)
