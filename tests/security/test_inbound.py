"""Who gets in: Socket Mode has no HTTP route, tokens decide by the listen address, replays run once, bodies
are bounded per route, and numbers are validated."""

from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

import pytest
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from structlog.testing import capture_logs

from bot.app import build_bolt_app
from bot.appkeys import REMINDERS
from bot.settings import Settings
from handlers import SERVICES
from handlers.metrics import METRICS
from handlers.postmortems import POSTMORTEMS
from tests.bot.harness import GENERAL, Bot, sign

StartBot = Callable[..., Awaitable[Bot]]
_DECLARE = {"command": "/incident", "text": "declare Forged sev1", "user_id": "U0EVE", "channel_id": GENERAL}


async def test_socket_mode_serves_no_slack_route(start_bot: StartBot) -> None:
    """With SLACK_APP_TOKEN set, POST /slack/events does not exist, signed or not, and nothing is declared."""
    bot = await start_bot(slack_app_token="xapp-1-test", slack_bot_token=None)
    body = urlencode(_DECLARE | {"trigger_id": "t1"})
    unsigned = await bot.http.post(
        "/slack/events", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    signed = await bot.post_signed(body, "application/x-www-form-urlencoded")
    assert (unsigned.status, signed.status) == (404, 404)
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []


async def test_bolt_verifies_http_requests_even_in_socket_mode(
    make_settings: Callable[..., Settings], bot: Bot
) -> None:
    """The Bolt app built for Socket Mode still refuses an unsigned HTTP-mode request with 401."""
    settings = make_settings(slack_app_token="xapp-1-test")
    client = AsyncWebClient(token="xoxb-test", base_url=bot.slack.url)
    app = bot.http.app
    bolt = build_bolt_app(settings, client, app[SERVICES], None, app[POSTMORTEMS], app[REMINDERS], app[METRICS])
    response = await bolt.async_dispatch(AsyncBoltRequest(body=urlencode(_DECLARE), headers={}, mode="http"))
    assert response.status == 401


@pytest.mark.parametrize("path", ["/api/incidents", "/webhooks/alertmanager", "/metrics"])
async def test_unset_token_closes_the_door_when_listening_publicly(start_bot: StartBot, path: str) -> None:
    """HOST=0.0.0.0 without the door's token: 401 for everyone (the test client is loopback), naming nothing."""
    with capture_logs() as logs:
        bot = await start_bot(host="0.0.0.0", alertmanager_token=None)
    response = await (bot.http.post(path, data=b"{}") if path.startswith("/webhooks") else bot.http.get(path))
    assert response.status == 401
    assert "TOKEN" not in await response.text()
    closed = next(log for log in logs if log["event"] == "endpoints_closed")
    assert closed["endpoints"] == [
        "/api (API_TOKEN unset)",
        "/webhooks/alertmanager (ALERTMANAGER_TOKEN unset)",
        "/metrics (METRICS_TOKEN unset)",
    ]


async def test_unset_token_opens_the_door_only_on_loopback(start_bot: StartBot) -> None:
    """HOST=127.0.0.1 without API_TOKEN serves the API; with a token, a wrong one is told which setting it is."""
    assert (await (await start_bot()).http.get("/api/incidents")).status == 200
    guarded = await start_bot(api_token="right-token")
    refused = await guarded.http.get("/api/incidents", headers={"Authorization": "Bearer wrong"})
    assert refused.status == 401
    assert "API_TOKEN" in (await refused.json())["error"]
    public = await start_bot(host="0.0.0.0", api_token="right-token")
    wrong = await public.http.get("/api/incidents", headers={"Authorization": "Bearer wrong"})
    assert (wrong.status, await wrong.json()) == (401, {"error": "unauthorized"})
    right = await public.http.get("/api/incidents", headers={"Authorization": "Bearer right-token"})
    assert right.status == 200


async def test_a_replayed_signed_request_runs_once(bot: Bot) -> None:
    """The same signed `note` request sent twice within the window is refused the second time."""
    channel = (await bot.declare())["channel_id"]
    form = _DECLARE | {"text": "note captured", "channel_id": channel, "trigger_id": "t-replay"}
    form |= {"response_url": bot.response_url()}
    body, headers = urlencode(form), {"Content-Type": "application/x-www-form-urlencoded"}
    signature = sign(body)
    first = await bot.http.post("/slack/events", data=body, headers=headers | signature)
    replay = await bot.http.post("/slack/events", data=body, headers=headers | signature)
    await bot.settle()
    assert (first.status, replay.status) == (200, 401)
    notes = [e for e in (await bot.api("/api/incidents/1/timeline"))["events"] if e["kind"] == "note"]
    assert len(notes) == 1


@pytest.mark.parametrize(("path", "headers"), [("/slack/events", {}), ("/api/incidents", {})])
async def test_slack_and_api_bodies_are_capped_at_64_kib(
    start_bot: StartBot, path: str, headers: dict[str, str]
) -> None:
    """ALERT_MAX_BODY=32MB does not raise the 64 KiB limit of /slack/events and /api: 100 KiB gets 413."""
    bot = await start_bot(alert_max_body=32 * 1024 * 1024)
    body = b"text=" + b"x" * (100 * 1024)
    response = await bot.http.post(path, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status == 413


async def test_the_alert_webhook_has_its_own_limit(start_bot: StartBot) -> None:
    """The alert webhook takes bodies up to ALERT_MAX_BODY (a 100 KiB one is read and judged), and no more."""
    bot = await start_bot(alert_max_body=200 * 1024)
    within = await bot.alert(b"[" + b" " * (100 * 1024) + b"]")
    beyond = await bot.alert(b"[" + b" " * (300 * 1024) + b"]")
    assert (within.status, beyond.status) == (400, 413)


@pytest.mark.parametrize("path", ["/api/incidents/%C2%B2", "/api/incidents/99999999999999999999", "/api/incidents/1e3"])
async def test_api_numbers_are_validated(bot: Bot, path: str) -> None:
    """A number that is not 1 to 9 ASCII digits gets 400, never a 500."""
    response = await bot.http.get(path)
    assert response.status == 400
    assert "is not an incident number" in (await response.json())["error"]


async def test_command_numbers_are_validated(bot: Bot) -> None:
    """`/incident #99999999999999999999 ack` gets an ephemeral answer, not an error."""
    reply = await bot.command("#99999999999999999999 ack")
    assert reply.startswith("⚠️")
    assert "is not an incident number" in reply
