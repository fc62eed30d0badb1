"""Concurrent calls sent together (`Batched`: calls made while one is out run together, each alone should that
fail), and Redis commands as one pipeline (`CommandBatch`)."""

import asyncio
from collections.abc import Sequence

from redis.asyncio import Redis
from redis.exceptions import ConnectionError, ResponseError

from storage.batch import Batched, CommandBatch
from storage.keys import Keys


class _Calls:
    """A `Batched`'s two ways of running, recording what each was given; each takes a moment (it is out
    meanwhile); an item "bad" fails."""

    def __init__(self, many_fails: bool = False) -> None:
        self.many_calls: list[list[str]] = []
        self.one_calls: list[str] = []
        self.many_fails = many_fails

    async def many(self, items: Sequence[str]) -> list[str]:
        self.many_calls.append(list(items))
        await asyncio.sleep(0.01)
        if self.many_fails or "bad" in items:
            raise ValueError("the batch failed")
        return [item.upper() for item in items]

    async def one(self, item: str) -> str:
        self.one_calls.append(item)
        await asyncio.sleep(0.01)
        if item == "bad":
            raise ValueError(f"{item} refused")
        return item.upper()


async def test_a_call_runs_at_once_and_those_made_meanwhile_run_as_one() -> None:
    """A call with none out runs alone at once; calls made while it is out run together after it, in order."""
    calls = _Calls()
    batch = Batched(calls.many, calls.one)
    assert await asyncio.gather(*(batch(item) for item in ("a", "b", "c"))) == ["A", "B", "C"]
    assert calls.one_calls == ["a"]
    assert calls.many_calls == [["b", "c"]]
    assert await batch("d") == "D"  # nothing out: at once, alone
    assert calls.one_calls == ["a", "d"]


async def test_a_failed_batch_runs_each_call_alone_and_only_the_bad_one_fails() -> None:
    """Should the batch's statement fail, each call runs alone: the bad one raises its own error, the rest land."""
    calls = _Calls()
    batch = Batched(calls.many, calls.one)
    results = await asyncio.gather(*(batch(item) for item in ("a", "bad", "c")), return_exceptions=True)
    assert [results[0], results[2]] == ["A", "C"]
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "bad refused"
    assert calls.many_calls == [["bad", "c"]]
    assert calls.one_calls == ["a", "bad", "c"]


async def test_every_call_made_while_one_is_out_goes_in_the_next_batch() -> None:
    calls = _Calls()
    batch = Batched(calls.many, calls.one)
    first = asyncio.gather(batch("a"), batch("b"))
    await asyncio.sleep(0)  # "a" is out, "b" waits
    second = asyncio.gather(batch("c"), batch("d"))
    assert list(await first) == ["A", "B"]
    assert list(await second) == ["C", "D"]
    assert calls.many_calls == [["b", "c", "d"]]


async def test_a_bounded_batch_takes_at_most_its_bound_and_the_rest_follow_in_order() -> None:
    calls = _Calls()
    batch = Batched(calls.many, calls.one, most=2)
    assert await asyncio.gather(*(batch(item) for item in "abcdef")) == list("ABCDEF")
    assert (calls.one_calls, calls.many_calls) == (["a", "f"], [["b", "c"], ["d", "e"]])  # a batch of one: alone


async def test_a_cancelled_caller_of_a_batch_does_not_hold_up_the_others() -> None:
    calls = _Calls()
    batch = Batched(calls.many, calls.one)
    waiting = [asyncio.ensure_future(batch(item)) for item in ("a", "b", "c")]
    await asyncio.sleep(0)
    waiting[1].cancel()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [results[0], results[2]] == ["A", "C"]
    assert isinstance(results[1], asyncio.CancelledError)


async def test_a_shared_failure_fails_every_caller_without_running_each_alone() -> None:
    """A lost connection (one of `shared`) would fail every call alike: each caller raises it, none runs alone."""
    calls = _Calls(many_fails=True)
    batch = Batched(calls.many, calls.one, shared=(ValueError,))
    results = await asyncio.gather(*(batch(item) for item in ("a", "b", "c")), return_exceptions=True)
    assert results[0] == "A"  # alone, before the others
    assert [str(result) for result in results[1:]] == ["the batch failed", "the batch failed"]
    assert calls.one_calls == ["a"]


async def test_commands_of_many_callers_each_get_their_own_replies(redis: Redis, keys: Keys) -> None:
    """Commands made together go out in one pipeline: each caller gets its own replies, in order, and a refused
    command fails its own caller only."""
    commands = CommandBatch(redis)
    counter, text_key = keys.seen("batch", "counter"), keys.seen("batch", "text")
    await redis.set(text_key, "not a number")
    replies = await asyncio.gather(
        commands(("INCR", counter), ("INCR", counter)),
        commands(("INCR", text_key)),  # refused: the value is not an integer
        commands(("INCR", counter), ("GET", counter)),
        return_exceptions=True,
    )
    assert replies[0] == [1, 2]
    assert isinstance(replies[1], ResponseError)
    assert replies[2] == [3, b"3"]
    assert await redis.get(text_key) == b"not a number"


async def test_commands_with_redis_unreachable_fail_every_caller() -> None:
    unreachable = Redis(port=1, socket_connect_timeout=1)
    commands = CommandBatch(unreachable)
    try:
        replies = await asyncio.gather(*(commands(("GET", "k")) for _ in range(3)), return_exceptions=True)
    finally:
        await unreachable.aclose()
    assert all(isinstance(reply, ConnectionError) for reply in replies)
