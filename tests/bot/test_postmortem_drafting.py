"""Drafting a postmortem together: concurrent edits, long sections, the 5 whys, adding channel messages."""

import json
from typing import Any

import structlog

from domain.postmortem import SectionKey
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockId, CallbackId
from sandbox.blockkit import message_errors
from tests.bot import postmortem_steps as steps
from tests.bot.harness import ALICE, BOB, CAROL, Bot


async def test_concurrent_edits_of_one_section_refuse_the_older_one(bot: Bot) -> None:
    """Two people edit the summary at once: the second save is refused naming the first, who is not overwritten;
    reloading shows the stored text at its new version, and saving from there works."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    alice_view = await steps.open_section(bot, number, SectionKey.SUMMARY, user=ALICE)
    bob_view = await steps.open_section(bot, number, SectionKey.SUMMARY, user=BOB)
    assert await steps.save_section(bot, bob_view, "Bob's summary", user=BOB) == ""
    conflict = steps.response_view(await steps.save_section(bot, alice_view, "Alice's summary", user=ALICE))
    assert f"<@{BOB}> saved *Summary* after you opened it" in json.dumps(conflict["blocks"])
    assert "Alice's summary" in json.dumps(conflict["blocks"])  # her text is shown, not lost
    assert (await bot.api(f"/api/postmortems/{number}"))["sections"]["summary"]["text"] == "Bob's summary"
    reload = next(b for b in conflict["blocks"] if b["type"] == "actions")["elements"][0]
    await bot.click(ActionId.POSTMORTEM_RELOAD, reload["value"], user=ALICE, view=alice_view)
    [update] = [c for c in bot.slack.calls_to("views.update") if c.ok]
    assert update.args["view_id"] == alice_view["id"]
    assert "Bob's summary" in json.dumps(update.args["view"])
    reloaded = bot.slack.views[alice_view["id"]]
    assert await steps.save_section(bot, reloaded, "Bob's summary, and Alice's", user=ALICE) == ""
    section = (await bot.api(f"/api/postmortems/{number}"))["sections"]["summary"]
    assert (section["text"], section["version"], section["edited_by"]) == ("Bob's summary, and Alice's", 2, ALICE)


async def test_concurrent_edits_of_two_sections_both_land(bot: Bot) -> None:
    """Editing two sections at once never conflicts; the draft message is updated in place with both."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    summary = await steps.open_section(bot, number, SectionKey.SUMMARY, user=ALICE)
    lessons = await steps.open_section(bot, number, SectionKey.LESSONS, user=BOB)
    assert await steps.save_section(bot, lessons, "Config is code", user=BOB) == ""
    assert await steps.save_section(bot, summary, "Checkout was down", user=ALICE) == ""
    text = steps.draft_text(bot, channel)
    assert "Config is code" in text
    assert "Checkout was down" in text
    assert f"Last edited by <@{BOB}>" in text
    draft_ts = steps.draft_message(bot, channel)["ts"]
    updates = [c for c in bot.slack.calls_to("chat.update") if c.args["ts"] == draft_ts]
    assert len(updates) == 2
    assert all(c.ok for c in updates)


async def test_a_long_section_is_split_in_the_modal_and_cut_only_on_the_message(bot: Bot) -> None:
    """A 7,000-character section is stored whole, reopens in three 3,000-character inputs, and is cut on the
    message with a pointer to the full text."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    long_text = "".join(f"{i:05d} " for i in range(1200))[:7000]
    inputs_seen = []
    for length in (3000, 6000, 7000):  # each save leaves room to continue in one more input
        view = await steps.open_section(bot, number, SectionKey.ROOT_CAUSE)
        inputs_seen.append(len([b for b in view["blocks"] if b["type"] == "input"]))
        assert await steps.save_section(bot, view, long_text[:length]) == ""
    assert inputs_seen == [1, 2, 3]
    body = await bot.api(f"/api/postmortems/{number}")
    assert body["sections"]["root_cause"]["text"] == long_text
    view = await steps.open_section(bot, number, SectionKey.ROOT_CAUSE)
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [len(b["element"].get("initial_value", "")) for b in inputs] == [3000, 3000, 1000]
    draft = steps.draft_message(bot, channel)
    assert message_errors(draft["blocks"]) == []
    assert "… (full text in the draft)" in steps.draft_text(bot, channel)


async def test_five_whys_chain_through_updated_modals(bot: Bot) -> None:
    """The 5 whys modal asks "why?" about each answer in turn, up to five, then closes; the chain is stored."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await bot.click(ActionId.POSTMORTEM_WHYS, PostmortemRef(number=number).dump())
    view = steps.opened_view(bot)
    answers = ["checkout failed", "payments off", "config flag", "no validation", "no schema", "nobody owned it"]
    questions = []
    for i, answer in enumerate(answers):
        questions.append(next(b for b in view["blocks"] if b["type"] == "input")["label"]["text"])
        response = await bot.submit(view, steps.text_state(BlockId.PM_WHY, answer))
        raw = await response.text()
        if i < len(answers) - 1:
            view = steps.response_view(raw)
        else:
            assert raw == ""  # the chain is complete: the modal closes
    assert questions[1] == "Why? checkout failed"
    assert questions[5] == "Why? no schema"
    assert (await bot.api(f"/api/postmortems/{number}"))["five_whys"] == answers
    assert "5. Why? → nobody owned it" in steps.draft_text(bot, channel)


async def test_shortcut_adds_a_channel_message_with_its_author_and_time(bot: Bot) -> None:
    """ "Add to postmortem" on a message opens a section picker; the message is appended with author and time."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    ts = bot.slack.add_message(channel, "DB failover took <12 minutes>", CAROL)
    await bot.shortcut(CallbackId.ADD_TO_POSTMORTEM, channel, ts)
    view = steps.opened_view(bot)
    await bot.submit(view, steps.option_state(BlockId.PM_SECTION, SectionKey.WENT_WRONG.value))
    text = (await bot.api(f"/api/postmortems/{number}"))["sections"]["went_wrong"]["text"]
    assert text.startswith("> DB failover took <12 minutes>\n— <@U0CAROL>, ")
    assert "&lt;12 minutes&gt;" in steps.draft_text(bot, channel)


async def test_memo_reaction_asks_for_a_section_and_pushpin_still_captures(bot: Bot) -> None:
    """📝 on a message asks which section (ephemeral select) and appends it there; 📌 still reaches capture."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    ts = bot.slack.add_message(channel, "We got lucky: it was night", BOB)
    item = {"type": "message", "channel": channel, "ts": ts}
    await bot.event({"type": "reaction_added", "user": ALICE, "reaction": "memo", "item": item})
    [question] = [c for c in bot.slack.calls_to("chat.postEphemeral") if c.ok]
    options = question.args["blocks"][0]["accessory"]["options"]
    [choice] = [o for o in options if json.loads(o["value"])["section"] == SectionKey.LUCKY.value]
    await bot.click(ActionId.POSTMORTEM_ADD_PICK, choice["value"], selected=True, channel=channel)
    lucky = (await bot.api(f"/api/postmortems/{number}"))["sections"]["lucky"]["text"]
    assert lucky.startswith("> We got lucky: it was night\n— <@U0BOB>")
    with structlog.testing.capture_logs() as logs:
        await bot.event({"type": "reaction_added", "user": ALICE, "reaction": "pushpin", "item": item})
    assert "message_capture_refused" in [log["event"] for log in logs]  # 📌 reached timeline capture


async def test_owner_edits_the_timeline_and_the_impact_window(bot: Bot) -> None:
    """The owner marks a key entry, leaves one out, adds an entry 7 minutes before the declaration and moves
    the impact start there; the API, the Markdown and the draft follow. Others may not."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await bot.click(ActionId.POSTMORTEM_TIMELINE, PostmortemRef(number=number).dump())
    view = steps.opened_view(bot)
    key_block = next(b for b in view["blocks"] if b.get("block_id") == BlockId.PM_KEY)
    declared, resolved = (o["value"] for o in key_block["element"]["options"])
    earlier = int(bot.clock.now.timestamp()) - 7 * 60
    state: dict[str, Any] = {
        BlockId.PM_KEY: {"value": {"type": "multi_static_select", "selected_options": [{"value": resolved}]}},
        BlockId.PM_EXCLUDED: {"value": {"type": "multi_static_select", "selected_options": [{"value": declared}]}},
        BlockId.PM_IMPACT_STARTED: {"value": {"type": "datetimepicker", "selected_date_time": earlier}},
        BlockId.PM_ADD_AT: {"value": {"type": "datetimepicker", "selected_date_time": earlier}},
    } | steps.text_state(BlockId.PM_ADD_TEXT, "Error rate rose")
    refused = await bot.submit(view, state, user=BOB)
    assert "Only the owner" in json.loads(await refused.text())["errors"][BlockId.PM_ADD_TEXT]
    assert await (await bot.submit(view, state)).text() == ""
    body = await bot.api(f"/api/postmortems/{number}")
    assert [(e["text"], e["key"], e["excluded"], e["added"]) for e in body["timeline"]] == [
        ("Error rate rose", False, False, True),
        ("Declared SEV-2: Checkout is down", False, True, False),
        ("Resolved: rolled back the deploy", True, False, False),
    ]
    assert body["impact"]["started"] == "2026-11-25T02:53:00Z"
    assert body["durations"]["impact_seconds"] == 7 * 60
    markdown = await (await bot.http.get(f"/api/postmortems/{number}.md")).text()
    assert "- **2026-11-25 03:00 UTC resolved (@U0ALICE): Resolved: rolled back the deploy**" in markdown
    assert "Declared SEV-2" not in markdown
    assert "★" in steps.draft_text(bot, channel)
