"""The postmortem's modals: edit a section, the 5 whys, an action item, review, publish, add a message.

Pure builders. Text inputs hold at most Slack's 3,000 characters each, so a longer section is edited in
several inputs ("continued"), joined again on submission.
"""

from collections.abc import Sequence
from datetime import date, datetime

from domain.postmortem import SECTION_MAX, ActionKind, Priority, Section, SectionKey, TimelineLine, entry_id
from handlers.postmortems.messages import whys_lines
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockId, CallbackId
from handlers.slack.blocks import Block, actions, button, mrkdwn, plain

INPUT_MAX = 3000
PARTS_MAX = SECTION_MAX // INPUT_MAX


def _modal(callback_id: CallbackId, title: str, blocks: list[Block], ref: PostmortemRef, submit: str | None) -> Block:
    view: Block = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain(title[:24]),
        "close": plain("Cancel" if submit else "Close"),
        "private_metadata": ref.dump(),
        "blocks": blocks,
    }
    if submit:
        view["submit"] = plain(submit)
    return view


def _text_input(block_id: str, label: str, initial: str = "", optional: bool = True, multiline: bool = True) -> Block:
    element: dict[str, object] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "max_length": INPUT_MAX,
    }
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "optional": optional, "label": plain(label), "element": element}


def _note(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def part_ids(count: int) -> list[str]:
    return [f"{BlockId.PM_TEXT}_{i}" for i in range(count)]


def split(text: str) -> list[str]:
    """The section's text in input-sized parts, plus room to continue, at most ten inputs."""
    parts = [text[i : i + INPUT_MAX] for i in range(0, len(text), INPUT_MAX)] or [""]
    if len(parts[-1]) >= INPUT_MAX // 2 and len(parts) < PARTS_MAX:
        parts.append("")
    return parts[:PARTS_MAX]


def section_modal(number: int, section: Section) -> Block:
    """Edit one section; the metadata carries the version it was opened at (for conflict detection)."""
    parts = split(section.text)
    ref = PostmortemRef(number=number, section=section.key, version=section.version)
    blocks: list[Block] = [_note(section.key.guide)]
    for i, (block_id, part) in enumerate(zip(part_ids(len(parts)), parts, strict=True)):
        label = section.key.heading if i == 0 else f"{section.key.heading} (continued)"
        blocks.append(_text_input(block_id, label, part))
    return _modal(CallbackId.POSTMORTEM_SECTION, section.key.heading, blocks, ref, "Save")


def conflict_view(number: int, stored: Section, mine: str) -> Block:
    """The section changed since this person opened it: say who saved it, offer a reload, keep their text."""
    who = f"<@{stored.edited_by}>" if stored.edited_by else "Someone"
    ref = PostmortemRef(number=number, section=stored.key, version=stored.version)
    kept = mine if len(mine) <= 2800 else mine[:2799] + "…"
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(f"⚠️ {who} saved *{stored.key.heading}* after you opened it. Nothing was overwritten."),
        },
        actions(button("Reload their version", ActionId.POSTMORTEM_RELOAD, ref.dump(), style="primary")),
        {"type": "section", "text": {"type": "plain_text", "text": f"Your text (not saved):\n{kept or '(empty)'}"}},
    ]
    return _modal(CallbackId.POSTMORTEM_SECTION, "Edit conflict", blocks, ref, None)


def _multi(block_id: str, label: str, options: list[dict[str, object]], chosen: set[str]) -> Block:
    element: dict[str, object] = {"type": "multi_static_select", "action_id": "value", "options": options}
    initial = [o for o in options if o["value"] in chosen]
    if initial:
        element["initial_options"] = initial
    return {"type": "input", "block_id": block_id, "optional": True, "label": plain(label), "element": element}


def _moment(block_id: str, label: str, initial: datetime | None, optional: bool = True) -> Block:
    element: dict[str, object] = {"type": "datetimepicker", "action_id": "value"}
    if initial is not None:
        element["initial_date_time"] = int(initial.timestamp())
    return {"type": "input", "block_id": block_id, "optional": optional, "label": plain(label), "element": element}


def timeline_modal(number: int, lines: Sequence[TimelineLine], started: datetime, ended: datetime | None) -> Block:
    """The owner's timeline edits: key and excluded entries (the latest 100), the impact window, a past entry."""
    shown = lines[-100:]
    ids = [entry_id(line.entry) for line in shown]
    options: list[dict[str, object]] = [
        {"text": plain(f"{line.entry.at:%m-%d %H:%M} {line.entry.text}"[:75]), "value": value}
        for line, value in zip(shown, ids, strict=True)
    ]
    blocks: list[Block] = [_note("Mark the entries that matter, leave out noise, and set when impact really began.")]
    if options:
        key = {value for line, value in zip(shown, ids, strict=True) if line.key}
        excluded = {value for line, value in zip(shown, ids, strict=True) if line.excluded}
        blocks.append(_multi(BlockId.PM_KEY, "Key entries", options, key))
        blocks.append(_multi(BlockId.PM_EXCLUDED, "Leave out", options, excluded))
    blocks += [
        _moment(BlockId.PM_IMPACT_STARTED, "Impact started", started),
        _moment(BlockId.PM_IMPACT_ENDED, "Impact ended", ended),
        _moment(BlockId.PM_ADD_AT, "Add an entry at", None),
        _text_input(BlockId.PM_ADD_TEXT, "What happened then", multiline=False),
    ]
    return _modal(CallbackId.POSTMORTEM_TIMELINE, "Timeline", blocks, PostmortemRef(number=number), "Save")


def whys_modal(number: int, whys: Sequence[str], question: str) -> Block:
    """One step of the 5 whys: the chain so far, and the next question about the last answer."""
    ref = PostmortemRef(number=number, version=len(whys))
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn("*5 whys so far*\n" + whys_lines(whys))},
        _text_input(BlockId.PM_WHY, question[:2000], optional=False),
    ]
    return _modal(CallbackId.POSTMORTEM_WHYS, "5 whys", blocks, ref, "Next")


def _select(block_id: str, label: str, options: Sequence[tuple[str, str]], initial: str | None = None) -> Block:
    choices = [{"text": plain(text), "value": value} for text, value in options]
    element: dict[str, object] = {"type": "static_select", "action_id": "value", "options": choices}
    if initial is not None:
        element["initial_option"] = next(c for c in choices if c["value"] == initial)
    return {"type": "input", "block_id": block_id, "label": plain(label), "element": element}


def item_modal(number: int, owner: str | None) -> Block:
    """A new action item; the due date defaults by priority when left empty."""
    owner_element: dict[str, object] = {"type": "users_select", "action_id": "value"}
    if owner:
        owner_element["initial_user"] = owner
    blocks: list[Block] = [
        _text_input(BlockId.PM_ITEM_TEXT, "Action", optional=False, multiline=False),
        _select(BlockId.PM_ITEM_KIND, "Kind", [(k.label, k.value) for k in ActionKind], ActionKind.PREVENT.value),
        {"type": "input", "block_id": BlockId.PM_ITEM_OWNER, "label": plain("Owner"), "element": owner_element},
        _select(BlockId.PM_ITEM_PRIORITY, "Priority", [(p.label, p.value) for p in Priority], Priority.P2.value),
        {
            "type": "input",
            "block_id": BlockId.PM_ITEM_DUE,
            "optional": True,
            "label": plain("Due (empty: by priority)"),
            "element": {"type": "datepicker", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": BlockId.PM_ITEM_TICKET,
            "optional": True,
            "label": plain("Ticket URL"),
            "element": {"type": "url_text_input", "action_id": "value"},
        },
    ]
    return _modal(CallbackId.POSTMORTEM_ITEM, "Add action item", blocks, PostmortemRef(number=number), "Add")


def review_modal(number: int) -> Block:
    element = {"type": "multi_users_select", "action_id": "value", "max_selected_items": 10}
    blocks: list[Block] = [
        {"type": "input", "block_id": BlockId.PM_REVIEWERS, "label": plain("Reviewers"), "element": element}
    ]
    return _modal(CallbackId.POSTMORTEM_REVIEW, "Ask for review", blocks, PostmortemRef(number=number), "Ask")


def changes_modal(number: int) -> Block:
    blocks = [_text_input(BlockId.PM_COMMENT, "What should change?", optional=False)]
    return _modal(CallbackId.POSTMORTEM_CHANGES, "Request changes", blocks, PostmortemRef(number=number), "Send")


def publish_modal(number: int, missing: Sequence[str], amendment: bool) -> Block:
    """Confirm publishing, or say exactly what is missing (then there is nothing to submit)."""
    ref = PostmortemRef(number=number)
    if missing:
        lines = "\n".join(f"• {what}" for what in missing)
        blocks: list[Block] = [{"type": "section", "text": mrkdwn(f"*Not ready to publish yet:*\n{lines}")}]
        return _modal(CallbackId.POSTMORTEM_PUBLISH, "Publish postmortem", blocks, ref, None)
    what = "a new revision (earlier ones are kept)" if amendment else "the postmortem and close the incident"
    blocks = [{"type": "section", "text": mrkdwn(f"This publishes {what}, and posts it to the channel.")}]
    return _modal(CallbackId.POSTMORTEM_PUBLISH, "Publish postmortem", blocks, ref, "Publish")


def publish_failed(number: int, reason: str) -> Block:
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(reason)}]
    return _modal(CallbackId.POSTMORTEM_PUBLISH, "Not published", blocks, PostmortemRef(number=number), None)


def add_message_modal(ref: PostmortemRef) -> Block:
    """Pick the section a message is added to."""
    options = [(key.heading, key.value) for key in SectionKey]
    blocks = [_select(BlockId.PM_SECTION, "Add the message to", options, SectionKey.TIMELINE.value)]
    return _modal(CallbackId.POSTMORTEM_ADD_MESSAGE, "Add to postmortem", blocks, ref, "Add")


def section_choice(ref: PostmortemRef) -> list[Block]:
    """The ephemeral question after a 📝 reaction: which section should the message go to?"""
    options = [
        {"text": plain(key.heading), "value": PostmortemRef(**(ref.model_dump() | {"section": key})).dump()}
        for key in SectionKey
    ]
    element = {
        "type": "static_select",
        "action_id": ActionId.POSTMORTEM_ADD_PICK,
        "placeholder": plain("Section"),
        "options": options,
    }
    return [
        {
            "type": "section",
            "text": mrkdwn("Add this message to which section of the postmortem?"),
            "accessory": element,
        }
    ]


def due_or_default(raw: str, default: date) -> date:
    return date.fromisoformat(raw) if raw else default
