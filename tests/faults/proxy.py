"""A TCP proxy the test controls, put between the bot and Redis or PostgreSQL to cut them off and back."""

import asyncio
import contextlib
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit


class Proxy:
    """Forwards 127.0.0.1:<port> to a `redis://host:port` or `unix:///path` server; `stop()` refuses new
    connections and cuts the open ones, `start()` serves again on the same port."""

    def __init__(self, target: str) -> None:
        self._target = urlsplit(target)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The proxy's own Redis URL (the target's database, if it names one)."""
        database = self._target.path if self._target.scheme.startswith("redis") and self._target.path else "/0"
        return f"redis://127.0.0.1:{self.port}{database}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._target.scheme == "unix":
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(self._target.path)
            else:
                target = self._target.hostname, self._target.port
                upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, upstream_writer}
        try:
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        finally:
            self._writers -= {writer, upstream_writer}
            for end in (writer, upstream_writer):
                end.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
