"""The bad-input corpus through one running bot: never a 5xx, always a 4xx or an ephemeral warning, and the
stored state (every SQL row, every Redis key of the test prefix) is the same afterwards."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy
from redis.asyncio import Redis

from bot.appkeys import ENGINE
from domain.paging_config import load_config
from storage import Keys
from storage.replies import text
from tests.bot.harness import Bot
from tests.security.corpus import Case, corpus

CONFIG = load_config(
    {
        "rotations": {"primary": {"members": ["U0PRIMARY"], "shift": "1w", "handoff": "2026-01-05T09:00"}},
        "escalation_policies": {"p": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "5m"}]}},
        "default_escalation_policy": "p",
        "page_on_declare": [1],
    },
    "oncall.yaml",
)
# Markers that a request was seen, written before it is judged so that it runs at most once: the signature of
# every signed request (replays), and the event_id of every event (Slack's retries). They record no state.
_SEEN_MARKERS = ("seen:signature:", "seen:event:")


async def _sql(bot: Bot) -> dict[str, list[tuple[Any, ...]]]:
    async with bot.http.app[ENGINE].connect() as connection:
        names = await connection.run_sync(lambda sync: sqlalchemy.inspect(sync).get_table_names())
        tables = {}
        for name in sorted(names):
            table = sqlalchemy.table(name)
            rows = await connection.execute(sqlalchemy.select(sqlalchemy.text("*")).select_from(table))
            tables[name] = sorted((tuple(row) for row in rows), key=repr)
    return tables


async def _redis(redis: Redis, keys: Keys) -> dict[str, Any]:
    """Every key of the test prefix with its content (a stream's entries and its groups' delivery state)."""
    found: dict[str, Any] = {}
    async for raw in redis.scan_iter(match=f"{keys.prefix}*", count=1000):
        key = text(raw)
        if key.removeprefix(keys.prefix).startswith(_SEEN_MARKERS):
            continue
        kind = text(await redis.type(key))
        found[key] = (kind, await _content(redis, key, kind))
    return found


async def _content(redis: Redis, key: str, kind: str) -> Any:
    if kind == "stream":
        groups = [(g["name"], g["pending"], g["last-delivered-id"]) for g in await redis.xinfo_groups(key)]
        return await redis.xrange(key), groups
    readers: dict[str, Callable[[], Awaitable[Any]]] = {
        "string": lambda: redis.get(key),
        "hash": lambda: redis.hgetall(key),
        "set": lambda: redis.smembers(key),
        "zset": lambda: redis.zrange(key, 0, -1, withscores=True),
        "list": lambda: redis.lrange(key, 0, -1),
    }
    return await readers[kind]()


async def _send(bot: Bot, case: Case) -> str | None:
    """What is wrong with the answer to `case`, or None."""
    response = await bot.http.request(case.method, case.path, data=case.body or None, headers=case.headers)
    text = await response.text()
    await bot.settle()
    if response.status >= 500:
        return f"{response.status} {text[:200]}"
    if case.slash:
        reply = text if response.content_type != "application/json" else str((await response.json()).get("text"))
        ok = response.status == 200 and reply.startswith("⚠️")
        return None if ok else f"{response.status} not an ephemeral warning: {reply[:200]}"
    if 400 <= response.status < 500 or (case.acknowledged and response.status == 200):
        return None
    return f"{response.status} where a 4xx was expected: {text[:200]}"


@pytest.fixture
async def bot(start_bot: Callable[..., Awaitable[Bot]]) -> Bot:
    return await start_bot(oncall=CONFIG, pager_interval=3600, pager_wake=False, page_ack_secret="ack-secret")


async def test_the_bad_input_corpus_is_refused_and_changes_nothing(bot: Bot, redis: Redis, keys: Keys) -> None:
    """Every corpus case gets a 4xx or an ephemeral warning, never a 5xx; SQL rows and Redis keys stay the same."""
    incident = await bot.declare("Checkout is down sev1")
    await bot.alert(b"")  # nothing: but the alert worker's consumer group now exists before the snapshot
    cases = corpus(incident["channel_id"], bot.response_url())
    assert len(cases) >= 300
    before = (await _sql(bot), await _redis(redis, keys))
    problems = [f"{case.name}: {problem}" for case in cases if (problem := await _send(bot, case))]
    assert problems == [], "\n".join(problems)
    assert (await _sql(bot), await _redis(redis, keys)) == before
