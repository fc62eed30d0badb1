"""Many tasks' calls sent together: one Lua script's calls as one pipeline, a statement's as one statement."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError
from redis.typing import EncodableT, KeyT

Item = TypeVar("Item")
Result = TypeVar("Result")
log = structlog.get_logger()
_Call = tuple[Sequence[KeyT], Sequence[EncodableT], "asyncio.Future[object]"]


class ScriptBatch:
    """Calls of `script` made in the same turn of the event loop go out as one pipeline: one write and one read
    of the replies instead of a round trip each (under a storm of webhooks the client's per-command work was a
    fifth of the intake's CPU). Each caller waits for the reply to its own call, and gets its own error; the
    calls run in the order they were made, each as the script alone would run it."""

    def __init__(self, redis: Redis, script: AsyncScript) -> None:
        self._redis = redis
        self._script = script
        self._waiting: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, keys: Sequence[KeyT], args: Sequence[EncodableT]) -> object:
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting.append((keys, args, future))
        if len(self._waiting) == 1:  # the first of this turn: send once the tasks ready now have had theirs
            task = asyncio.create_task(self._send())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return await future

    async def _send(self) -> None:
        calls, self._waiting = self._waiting, []
        try:
            replies = await self._run(calls)
            missing = [n for n, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if missing:  # Redis restarted, or SCRIPT FLUSH: load it, and send again the calls it refused
                await self._redis.script_load(self._script.script)
                for n, reply in zip(missing, await self._run([calls[n] for n in missing]), strict=True):
                    replies[n] = reply
        except Exception as error:  # not swallowed: every caller of the batch raises it
            replies = [error] * len(calls)
        for (_, _, future), reply in zip(calls, replies, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _run(self, calls: list[_Call]) -> list[object]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for keys, args, _ in calls:
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            replies: list[object] = await pipe.execute(raise_on_error=False)  # a ResponseError per failed call
        return replies


class TurnBatch(Generic[Item, Result]):
    """Calls made in the same turn of the event loop run as one (`many`: one SQL statement for all of them
    instead of one each); each caller gets its own result. Should `many` fail, each call of that batch runs
    alone (`one`), so a caller sees its own error only and the others' calls are not lost with it."""

    def __init__(
        self, many: Callable[[Sequence[Item]], Awaitable[Sequence[Result]]], one: Callable[[Item], Awaitable[Result]]
    ) -> None:
        self._many, self._one = many, one
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if len(self._waiting) == 1:  # the first of this turn: run once the tasks ready now have made theirs
            task = asyncio.create_task(self._run())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        return await future

    async def _run(self) -> None:
        calls, self._waiting = self._waiting, []
        futures = [future for _, future in calls]
        try:
            results: list[Result | BaseException] = []
            if len(calls) > 1:
                try:
                    results = list(await self._many([item for item, _ in calls]))
                except Exception as error:  # each runs alone below, to raise its own error
                    log.info("batch_run_alone", calls=len(calls), error=type(error).__name__)
            if not results:
                results = await asyncio.gather(*(self._one(item) for item, _ in calls), return_exceptions=True)
        except BaseException:  # cancelled (shutdown): no caller waits forever
            for future in futures:
                future.cancel()
            raise
        for future, result in zip(futures, results, strict=True):
            if future.done():  # its caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
