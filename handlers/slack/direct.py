"""Our slash command without Bolt's pipeline: a signed `/incident` request goes straight to its runner.

Bolt runs its middleware chain and listener matching for every request (in a profile its dispatch was
about 30 % of the samples, our listener inside it). For the one command we register, this does what that
pipeline does for it, in the same order and with the same answers: the
signature checked with Slack's algorithm and timestamp window (401 if wrong), the overload bound (busy after
its wait), the replay guard (401 for a signature seen before), the log context, the payload model (400 if it
lacks fields), the runner with Bolt's `ack` and `respond`, and the one error handler. Every other request
(another command, a click, an event, a view) goes to Bolt as before.
"""

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier

from handlers.slack.admission import Admission
from handlers.slack.middleware import bind_request, replayed, report_failure
from handlers.slack.payloads import SlashCommand
from storage import SeenStore

Run = Callable[[SlashCommand, AsyncAck, AsyncRespond], Awaitable[None]]


class DirectCommand:
    def __init__(self, command: str, run: Run, signing_secret: str, admission: Admission, seen: SeenStore) -> None:
        self.command = command
        self._run = run
        self._verifier = SignatureVerifier(signing_secret)
        self._admission = admission
        self._seen = seen

    def takes(self, body: Mapping[str, Any]) -> bool:
        """Whether this is our command (Bolt's `ssl_check` requests carry none)."""
        return body.get("command") == self.command and "ssl_check" not in body

    async def answer(self, raw_body: str, body: dict[str, Any], timestamp: str, signature: str) -> BoltResponse:
        """The HTTP reply to a request `takes` said is ours."""
        if not self._verifier.is_valid(raw_body, timestamp, signature):
            return BoltResponse(status=401, body={"error": "invalid request"})
        return await self._admission.command(lambda: self._admitted(body, signature))

    async def _admitted(self, body: dict[str, Any], signature: str) -> BoltResponse:
        if await replayed(self._seen, signature):
            return BoltResponse(status=401, body='{"error": "this request was already handled"}')
        bind_request(body)
        ack = AsyncAck()  # type: ignore[no-untyped-call]
        respond = AsyncRespond(response_url=body.get("response_url"))
        try:
            await self._run(SlashCommand.model_validate(body), ack, respond)
        except Exception as error:  # the one error handler says what failed, as Bolt would have it do
            response = BoltResponse(status=500, body="")
            await report_failure(error, body, respond, response)
            return response
        return ack.response or BoltResponse(status=200, body="")
