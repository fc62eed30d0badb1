"""A Lua script's concurrent calls sent together: each caller's own reply, its own error, the script loaded."""

import asyncio
from uuid import uuid4

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from storage.batch import ScriptBatch
from storage.keys import Keys

# Appends ARGV[1] to a list and answers its new length; refuses the value "bad" without appending.
_APPEND = """
if ARGV[1] == 'bad' then return redis.error_reply('bad value') end
return redis.call('RPUSH', KEYS[1], ARGV[1])
"""


def script(redis: Redis) -> ScriptBatch:
    """A script Redis has not seen yet (its text is new), so the first batch finds it missing."""
    return ScriptBatch(redis, redis.register_script(f"{_APPEND}-- {uuid4().hex}"))


async def test_concurrent_calls_each_get_their_own_reply_in_order(redis: Redis, keys: Keys) -> None:
    """Calls made together run in the order made, each answered with its own reply, after loading the script."""
    append, key = script(redis), keys.seen("batch", "list")
    replies = await asyncio.gather(*(append([key], [str(n)]) for n in range(20)))
    assert replies == list(range(1, 21))
    assert await redis.lrange(key, 0, -1) == [str(n).encode() for n in range(20)]


async def test_one_calls_error_is_its_own(redis: Redis, keys: Keys) -> None:
    """A call the script refuses raises for its caller only; the others in its batch are answered."""
    append, key = script(redis), keys.seen("batch", "list")
    replies = await asyncio.gather(*(append([key], [value]) for value in ("a", "bad", "b")), return_exceptions=True)
    assert [replies[0], replies[2]] == [1, 2]
    assert isinstance(replies[1], ResponseError)
    assert "bad value" in str(replies[1])
    assert await redis.lrange(key, 0, -1) == [b"a", b"b"]


async def test_unreachable_redis_fails_every_caller() -> None:
    """When Redis cannot be reached, every caller of the batch raises the connection error (none waits forever)."""
    unreachable = Redis(port=1, socket_connect_timeout=1)
    append = script(unreachable)
    try:
        replies = await asyncio.gather(*(append(["k"], [str(n)]) for n in range(3)), return_exceptions=True)
    finally:
        await unreachable.aclose()
    assert all(isinstance(reply, ConnectionError) for reply in replies)


async def test_a_cancelled_caller_does_not_hold_up_the_others(redis: Redis, keys: Keys) -> None:
    """A caller cancelled while its batch is out is skipped; the rest get their replies."""
    append, key = script(redis), keys.seen("batch", "list")
    calls = [asyncio.ensure_future(append([key], [value])) for value in ("a", "b", "c")]
    await asyncio.sleep(0)
    calls[1].cancel()
    done = await asyncio.gather(*calls, return_exceptions=True)
    assert [done[0], done[2]] == [1, 3]
    assert isinstance(done[1], asyncio.CancelledError)
    with pytest.raises(asyncio.CancelledError):
        calls[1].result()
