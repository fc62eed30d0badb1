"""Many tasks' calls sent together: Redis commands as one pipeline, a statement's calls as one statement, a Lua
script's calls as one call of it."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import structlog
from redis.asyncio import Redis
from redis.typing import EncodableT

Item = TypeVar("Item")
Result = TypeVar("Result")
log = structlog.get_logger()
Command = tuple[EncodableT, ...]  # a Redis command: its name, then its arguments


class CommandBatch:
    """Redis commands of many callers made while others are out go out together as one pipeline (`Batched`; not a
    transaction: each caller's commands run in order, one after another, as they would without it). Each
    caller gets the replies to its own commands, or raises the first error among them."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._batch: Batched[Sequence[Command], list[object]] = Batched(self._send, shared=(Exception,))

    async def __call__(self, *commands: Command) -> list[object]:
        return await self._batch(commands)

    async def _send(self, calls: Sequence[Sequence[Command]]) -> list[list[object] | BaseException]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for commands in calls:
                for command in commands:
                    pipe.execute_command(*command)
            replies: list[object] = await pipe.execute(raise_on_error=False)  # a ResponseError per refusal
        answers: list[list[object] | BaseException] = []
        start = 0
        for commands in calls:
            own = replies[start : start + len(commands)]
            start += len(commands)
            answers.append(next((r for r in own if isinstance(r, Exception)), own))
        return answers


class Batched(Generic[Item, Result]):
    """A call made while none is out runs at once, alone (`one`): no latency added to a quiet process. Calls
    made while one is out wait for it and then run together (`many`: one SQL statement, one pipeline or one
    script call for all of them instead of one each), in the order made; so under load, when round trips pile
    up, they share them. Each caller gets its own result, or raises the exception `many` gave for its call.
    Should `many` fail, each call of that batch runs alone, so a caller sees its own error only and the others'
    calls are not lost with it; unless the error is one of `shared` (the connection failed: every call alone
    would fail alike, each waiting its own timeout), which every caller of the batch raises. `most` bounds a
    batch (a Lua script's call holds Redis for its whole length): the rest wait for the next one, in order."""

    def __init__(
        self,
        many: Callable[[Sequence[Item]], Awaitable[Sequence[Result | BaseException]]],
        one: Callable[[Item], Awaitable[Result]] | None = None,  # default: `many` of the one call
        shared: tuple[type[BaseException], ...] = (),
        most: int | None = None,
    ) -> None:
        self._many, self._one, self._shared, self._most = many, one or self._many_of_one, shared, most
        self._out = False  # a call or a batch is out
        self._waiting: list[tuple[Item, asyncio.Future[Result]]] = []
        self._draining: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Result:
        if not self._out:
            self._out = True
            try:
                return await self._one(item)
            finally:
                self._next()
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        return await future

    def _next(self) -> None:
        """Once a call or batch is back: send what waited for it, else nothing is out."""
        if not self._waiting:
            self._out = False
            return
        task = asyncio.create_task(self._drain())
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    async def _drain(self) -> None:
        most = len(self._waiting) if self._most is None else self._most
        calls, self._waiting = self._waiting[:most], self._waiting[most:]
        try:
            await self._settle(calls)
        finally:
            self._next()

    async def _settle(self, calls: list[tuple[Item, "asyncio.Future[Result]"]]) -> None:
        futures = [future for _, future in calls]
        try:
            results: list[Result | BaseException] = []
            if len(calls) > 1:
                try:
                    results = list(await self._many([item for item, _ in calls]))
                except self._shared as error:
                    results = [error] * len(calls)
                except Exception as error:  # each runs alone below, to raise its own error
                    log.info("batch_run_alone", calls=len(calls), error=type(error).__name__)
            if not results:
                results = [await self._alone(item) for item, _ in calls]
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

    async def _many_of_one(self, item: Item) -> Result:
        [result] = await self._many([item])
        if isinstance(result, BaseException):
            raise result
        return result

    async def _alone(self, item: Item) -> Result | BaseException:
        try:
            return await self._one(item)
        except Exception as error:
            return error
