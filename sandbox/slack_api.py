"""The Slack emulator: Slack's Web API served over real HTTP, answering from a workspace it keeps.

The tests and the sandbox use this one emulator. `async with SlackEmulator() as slack:` starts it on a free
loopback port (or `application()` is mounted into another aiohttp app, with `base_url` set); give `slack.url`
to `AsyncWebClient(base_url=...)`, then read `slack.calls`, `slack.channels` and `slack.messages`. Answers use
Slack's success shapes and error codes; `fail()` scripts error answers, 429s and 5xx. Block Kit rules live in
`sandbox/blockkit.py`.
"""

import asyncio
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from sandbox import blockkit as rules
from sandbox.blockkit import Json, SlackError
from sandbox.web_api import WebApi
from sandbox.workspace import APP_ID, BOT_ID, BOT_USER_ID, TEAM_ID, Channel

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Channel",
    "SlackEmulator",
    "SlackError",
    "start_emulator",
]

_METHOD = re.compile(r"[a-z]+(\.[a-zA-Z]+)+")


@dataclass(frozen=True)
class Call:
    """One recorded Web API call."""

    method: str
    args: dict[str, Any]
    token: str | None
    error: str | None = None  # the error the fake answered with; None when it answered ok
    at: float = field(default_factory=time.monotonic)  # when it arrived

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Failure:
    error: str
    status: int
    retry_after: int | None


class SlackEmulator(WebApi):
    """The emulator: its HTTP server, what it recorded and what it was scripted to answer, over the Web API."""

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__()
        self.base_url = base_url  # where the emulator is served, ending in "/"; set by `start` when it serves itself
        self.calls: list[Call] = []
        self.responses: dict[str, tuple[str, str]] = {}  # response_url id -> (channel, user)
        self.version = 0  # goes up with every recorded call: watchers wait on `changed`
        self._failures: dict[str, list[_Failure]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._delays: dict[str, tuple[float, str | None]] = {}
        self._recorded = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`, ending in "/api/"."""
        if self.base_url is None:
            raise RuntimeError("SlackEmulator is not started")
        return self.base_url + "api/"

    def application(self) -> web.Application:
        """The emulator's routes: the Web API under `api/` and response URLs under `response/`."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)  # slack_sdk sends GET for read methods like users.info
        app.router.add_post("/response/{id}", self._handle_response_url)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve the emulator by itself on `host` (a free port unless `port` is given)."""
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, listener).start()
        bound = listener.getsockname()[1]
        self.base_url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}/"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call of `method`, failed ones included."""
        return [call for call in self.calls if call.method == method]

    def fail(
        self, method: str, error: str, *, times: int = 1, status: int = 200, retry_after: int | None = None
    ) -> None:
        """Answer the next `times` calls of `method` with `error` (HTTP `status`; 429s send Retry-After, default 1)."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._failures.setdefault(method, []).extend([_Failure(error, status, retry_after)] * times)

    def hold(self, method: str) -> asyncio.Event:
        """Carry out the next call of `method` but hold its reply until the returned event is set (or the caller
        gives up): the moment a process dies after Slack did the work, before it heard so."""
        self._holds[method] = asyncio.Event()
        return self._holds[method]

    def delay(self, method: str, seconds: float, channel: str | None = None) -> None:
        """Answer every later call of `method` (only those naming `channel`, if given) `seconds` late: a slow
        Slack. The work is done, and recorded, when the answer goes out. `seconds=0` ends it."""
        if seconds > 0:
            self._delays[method] = (seconds, channel)
        else:
            self._delays.pop(method, None)

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:  # noqa: ASYNC109
        """Wait until `count` successful calls of `method` were recorded and return them."""

        def successes() -> list[Call]:
            return [call for call in self.calls_to(method) if call.ok]

        try:
            async with asyncio.timeout(timeout), self._recorded:
                await self._recorded.wait_for(lambda: len(successes()) >= count)
        except TimeoutError:
            seen = ", ".join(c.method + (f" ({c.error})" if c.error else "") for c in self.calls) or "none"
            msg = f"expected {count} successful {method} call(s) in {timeout}s, got {len(successes())}; seen: {seen}"
            raise AssertionError(msg) from None
        return successes()

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, parse_error = await rules.read_args(request)
        if (slow := self._delays.get(method)) and slow[1] in (None, args.get("channel")):
            await asyncio.sleep(slow[0])
        form_token = args.pop("token", None)
        token = rules.bearer_token(request.headers.get("Authorization")) or (str(form_token) if form_token else None)
        status, body, headers = self._answer(method, args, token, parse_error)
        await self._record(Call(method, args, token, None if body["ok"] else str(body["error"])))
        if held := self._holds.pop(method, None):
            await held.wait()
        return web.json_response(body, status=status, headers=headers)

    def new_response_url(self, channel: str, user: str) -> str:
        """A response URL for an interaction of `user` in `channel`; what is sent to it shows there."""
        response_id = f"{next(self._ids):09d}{time.time_ns() % 1000:03d}"
        self.responses[response_id] = (channel, user)
        return f"{self.url.removesuffix('api/')}response/{response_id}"

    async def changed(self, since: int, timeout: float) -> int:  # noqa: ASYNC109
        """Wait until something was recorded after version `since` (or `timeout` passed); the version now."""
        try:
            async with asyncio.timeout(timeout), self._recorded:
                await self._recorded.wait_for(lambda: self.version > since)
        except TimeoutError:
            pass
        return self.version

    async def note_change(self) -> None:
        """Tell watchers that the workspace changed outside a Web API call (a person's message, a reaction)."""
        await self._record(None)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        """A message sent to a `response_url` (given out as `<base>/response/<id>`), recorded as "response_url".

        Shown where the interaction happened: to its person alone, or in the channel for `in_channel`."""
        args, error = await rules.read_args(request)
        where = self.responses.get(request.match_info["id"])
        if error is None and (args.get("text") or args.get("blocks")):
            try:  # a message to a response_url meets the same rules as chat.postMessage
                content = rules.check_message(args)
                if where is not None:
                    self._show_response(*where, content, args.get("response_type"))
            except SlackError as refused:
                error = refused.error
        await self._record(Call("response_url", args, None, error))
        return web.json_response({"ok": True} if error is None else {"ok": False, "error": error})

    def _show_response(self, channel: str, user: str, content: Json, response_type: object) -> None:
        if response_type == "in_channel":
            message: Json = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "team": TEAM_ID}
            self._store(channel, message | content | {"ts": self._new_ts()})
        else:
            self.add_ephemeral(channel, user, content)

    async def _record(self, call: Call | None) -> None:
        if call is not None:
            self.calls.append(call)
        async with self._recorded:
            self.version += 1
            self._recorded.notify_all()

    def _answer(
        self, method: str, args: Json, token: str | None, parse_error: str | None
    ) -> tuple[int, Json, dict[str, str]]:
        error = "not_authed" if not token else "invalid_auth" if not token.startswith("xox") else parse_error
        if error is not None:
            return 200, {"ok": False, "error": error}, {}
        if scripted := self._failures.get(method):
            failure = scripted.pop(0)
            headers = {} if failure.retry_after is None else {"Retry-After": str(failure.retry_after)}
            return failure.status, {"ok": False, "error": failure.error}, headers
        snake_case = re.sub(r"(?<!^)(?=[A-Z])", "_", method).lower().replace(".", "_")
        handler = getattr(self, f"_api_{snake_case}", None) if _METHOD.fullmatch(method) else None
        if handler is None:
            return 200, {"ok": False, "error": "unknown_method"}, {}
        try:
            return 200, {"ok": True, **handler(args)}, {}
        except SlackError as exc:
            return 200, {"ok": False, "error": exc.error, **exc.extra}, {}


async def start_emulator() -> SlackEmulator:
    """Start a SlackEmulator; the caller closes it with `await fake.close()`."""
    fake = SlackEmulator()
    await fake.start()
    return fake
