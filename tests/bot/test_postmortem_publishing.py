"""Review and publishing: reviewers, approval, publish with SQL failing or down, amendments, the CLI export."""

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy

from domain.postmortem import SectionKey
from handlers.postmortems import POSTMORTEMS
from handlers.postmortems.flows import announce_pending
from handlers.postmortems.values import PostmortemRef
from handlers.slack import ActionId, BlockId
from storage import Keys
from storage.db import sync_url
from tests.bot import postmortem_steps as steps
from tests.bot.harness import BOB, CAROL, Bot
from tests.services import Services

_FAIL_SQLITE = [
    "CREATE TRIGGER revisions_fail BEFORE INSERT ON postmortem_revisions BEGIN SELECT RAISE(ABORT, 'disk I/O'); END"
]
_FAIL_POSTGRES = [
    "CREATE FUNCTION revisions_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk I/O'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER revisions_fail BEFORE INSERT ON postmortem_revisions FOR EACH ROW "
    "EXECUTE FUNCTION revisions_fail()",
]


def _run(url: str, statements: list[str], autocommit: bool = False) -> None:
    # SQLite: wait (up to 30 s) for the running bot's write to finish rather than failing at once as "locked"
    connect_args = {"timeout": 30} if url.startswith("sqlite") else {}
    engine = sqlalchemy.create_engine(sync_url(url), poolclass=sqlalchemy.NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            if autocommit:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            for statement in statements:
                connection.execute(sqlalchemy.text(statement))
            connection.commit()
    finally:
        engine.dispose()


@pytest.fixture
def failing_revisions(database_url: str) -> Iterator[None]:
    """The database refuses to store a revision (a write failing mid-transaction), until the test ends."""
    postgres = database_url.startswith("postgres")
    _run(database_url, _FAIL_POSTGRES if postgres else _FAIL_SQLITE)
    yield
    drop = ["DROP TRIGGER revisions_fail ON postmortem_revisions", "DROP FUNCTION revisions_fail()"]
    _run(database_url, drop if postgres else ["DROP TRIGGER revisions_fail"])


async def _ready(bot: Bot) -> tuple[int, str]:
    """A resolved incident whose postmortem has a summary, a root cause and an action item."""
    number, channel = await steps.resolved(bot)
    await steps.start(bot, channel)
    await steps.edit(bot, number, SectionKey.SUMMARY, "Checkout failed for 52 minutes")
    await steps.edit(bot, number, SectionKey.ROOT_CAUSE, "A config push disabled payments")
    await steps.add_item(bot, number, "Validate config", owner=BOB)
    return number, channel


def _modal_text(raw: str) -> str:
    return json.dumps(steps.response_view(raw)["blocks"], ensure_ascii=False)


async def test_review_asks_reviewers_and_needs_an_approval(bot: Bot) -> None:
    """Ask for review DMs each reviewer a link; publishing waits for an approval; a change request goes in the
    thread and back to draft."""
    number, channel = await _ready(bot)
    await bot.click(ActionId.POSTMORTEM_ASK_REVIEW, PostmortemRef(number=number).dump())
    reviewers: dict[str, Any] = {
        BlockId.PM_REVIEWERS: {"value": {"type": "multi_users_select", "selected_users": [BOB, CAROL]}}
    }
    await bot.submit(steps.opened_view(bot), reviewers)
    dms = [c.args for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] in {BOB, CAROL}]
    assert len(dms) == 2
    assert all("https://fake.slack.com/archives/" in dm["text"] for dm in dms)
    assert (await bot.api(f"/api/postmortems/{number}"))["state"] == "in_review"
    await bot.click(ActionId.POSTMORTEM_PUBLISH, PostmortemRef(number=number).dump())
    assert "no reviewer has approved it yet" in json.dumps(steps.opened_view(bot)["blocks"])
    await bot.click(ActionId.POSTMORTEM_REQUEST_CHANGES, PostmortemRef(number=number).dump(), user=CAROL)
    await bot.submit(steps.opened_view(bot), steps.text_state(BlockId.PM_COMMENT, "Add the <impact>"), user=CAROL)
    draft_ts = steps.draft_message(bot, channel)["ts"]
    thread = [
        m["text"] for (c, _), m in bot.slack.messages.items() if m.get("thread_ts") == draft_ts and m["ts"] != draft_ts
    ]
    assert thread == [f"<@{CAROL}> requested changes:\nAdd the &lt;impact&gt;"]
    assert (await bot.api(f"/api/postmortems/{number}"))["state"] == "draft"
    await bot.click(ActionId.POSTMORTEM_APPROVE, PostmortemRef(number=number).dump(), user=BOB)
    assert "not in review" in bot.slack.calls_to("response_url")[-1].args["text"]
    await bot.click(ActionId.POSTMORTEM_ASK_REVIEW, PostmortemRef(number=number).dump())
    await bot.submit(steps.opened_view(bot), reviewers)
    await bot.click(ActionId.POSTMORTEM_APPROVE, PostmortemRef(number=number).dump(), user=BOB)
    assert await steps.publish(bot, number) == ""
    body = await bot.api(f"/api/postmortems/{number}")
    assert (body["state"], body["approvals"], body["reviewers"]) == ("published", [BOB], [BOB, CAROL])


# PostgreSQL only: on the suite's shared SQLite file, creating the failing trigger while earlier tests' bots
# wind down was refused as "database is locked" about one full run in three (see the closing note of 2026-12-01).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_publish_with_sql_failing_keeps_the_draft_and_asks_to_retry(bot: Bot, failing_revisions: None) -> None:
    """When the publishing transaction fails, nothing of it is stored: the draft and the incident are as they
    were, and the modal tells the person to retry."""
    number, _ = await _ready(bot)
    before = await bot.api(f"/api/postmortems/{number}")
    answer = await steps.publish(bot, number)
    assert "The draft is intact; please try again" in _modal_text(answer)
    assert await bot.api(f"/api/postmortems/{number}") == before
    assert (await bot.api(f"/api/incidents/{number}"))["status"] == "resolved"


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a server whose connections can be refused
async def test_publish_with_the_database_down_asks_to_retry(bot: Bot, database_url: str, services: Services) -> None:
    """With PostgreSQL refusing every connection, publishing answers "try again"; once it is back, it publishes."""
    number, _ = await _ready(bot)
    name = sqlalchemy.make_url(database_url).database
    await bot.click(ActionId.POSTMORTEM_PUBLISH, PostmortemRef(number=number).dump())
    view = steps.opened_view(bot)
    down = [
        f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false',
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()",
    ]
    await asyncio.to_thread(_run, database_url.rsplit("/", 1)[0] + "/test", down, True)
    try:
        answer = await (await bot.submit(view, {})).text()
    finally:
        await asyncio.to_thread(
            _run, database_url.rsplit("/", 1)[0] + "/test", [down[0].replace("false", "true")], True
        )
    assert "The database did not answer" in _modal_text(answer)
    assert await steps.publish(bot, number) == ""
    assert (await bot.api(f"/api/incidents/{number}"))["status"] == "closed"


async def test_amend_stores_a_new_revision_and_keeps_the_earlier_one(bot: Bot) -> None:
    """A published postmortem can be edited and published again: revision 2 is stored, revision 1 still reads."""
    number, _ = await _ready(bot)
    assert await steps.publish(bot, number) == ""
    await steps.edit(bot, number, SectionKey.SUMMARY, "Checkout failed for 59 minutes (impact began earlier)")
    assert await steps.publish(bot, number) == ""
    latest = await bot.api(f"/api/postmortems/{number}")
    first = await bot.api(f"/api/postmortems/{number}?revision=1")
    assert [r["revision"] for r in latest["revisions"]] == [1, 2]
    assert latest["sections"]["summary"]["text"].startswith("Checkout failed for 59 minutes")
    assert first["sections"]["summary"]["text"] == "Checkout failed for 52 minutes"
    announcements = [
        c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.incidents_channel
    ]
    assert "amended (revision 2)" in announcements[-1]
    await bot.api(f"/api/postmortems/{number}?revision=3", status=404)


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `firebreak <args>` in its own process (it configures logging for itself); exit code and stdout."""
    code = f"from bot.cli import main; raise SystemExit(main({list(args)!r}))"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_cli_exports_what_the_api_serves(bot: Bot, database_url: str, redis_url: str, keys: Keys) -> None:
    """`firebreak postmortem export <n>` prints the API's Markdown, with --format json its JSON; an unknown
    number exits 1."""
    number, _ = await _ready(bot)
    assert await steps.publish(bot, number) == ""
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "REDIS_PREFIX": keys.prefix}
    code, markdown = await _cli(env, "postmortem", "export", str(number))
    assert code == 0
    assert markdown == await (await bot.http.get(f"/api/postmortems/{number}.md")).text()
    code, raw = await _cli(env, "postmortem", "export", str(number), "--format", "json")
    assert code == 0
    assert json.loads(raw) == await bot.api(f"/api/postmortems/{number}")
    assert (await _cli(env, "postmortem", "export", "99"))[0] == 1


def _published_posts(bot: Bot, where: str) -> list[str]:
    calls = bot.slack.calls_to("chat.postMessage")
    return [c.args["text"] for c in calls if c.ok and c.args["channel"] == where and "📕" in c.args["text"]]


async def test_posts_slack_refused_are_retried_and_go_out_once(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """Slack refusing the published postmortem's post leaves it stored; the queued announcement is retried and
    posts it and the summary, each exactly once (nothing is left for the sweep)."""
    bot = await start_bot(slack_effect_backoff=0.01)
    number, channel = await _ready(bot)
    bot.slack.fail("chat.postMessage", "channel_not_found")
    assert await steps.publish(bot, number) == ""
    assert (await bot.api(f"/api/incidents/{number}"))["status"] == "closed"
    assert (len(_published_posts(bot, channel)), len(_published_posts(bot, bot.incidents_channel))) == (1, 1)
    bot.clock.advance(timedelta(minutes=1))
    assert await announce_pending(bot.http.app[POSTMORTEMS]) == 0


async def test_posts_the_queue_gave_up_are_finished_by_the_sweep_once(
    start_bot: Callable[..., Awaitable[Bot]],
) -> None:
    """When the queue gives the announcement up, the follow-up sweep posts it and the summary later (not while
    it is recent), each exactly once."""
    bot = await start_bot(slack_effect_attempts=1)
    number, channel = await _ready(bot)
    bot.slack.fail("chat.postMessage", "channel_not_found")
    assert await steps.publish(bot, number) == ""
    pms = bot.http.app[POSTMORTEMS]
    assert await announce_pending(pms) == 0  # too recent: the queue may still be posting
    bot.clock.advance(timedelta(minutes=1))
    assert await announce_pending(pms) == 1
    assert await announce_pending(pms) == 0
    assert (len(_published_posts(bot, channel)), len(_published_posts(bot, bot.incidents_channel))) == (1, 1)
