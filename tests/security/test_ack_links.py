"""Acknowledge links for SMS and phone gateways: signed with expiry, once, only for an active page, GET safe,
and never started without their own secret and public address."""

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.cli import main
from domain.paging_config import load_config
from handlers.paging import PAGER
from tests.bot.harness import Bot

PRIMARY = "U0PRIMARY"
StartBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An SMS gateway on loopback: its URL and the pages it received."""
    received: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/sms", receive)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/sms")), received


async def _paged_bot(start_bot: StartBot, gateway: tuple[str, list[dict[str, Any]]]) -> tuple[Bot, str]:
    """A bot that paged PRIMARY for a SEV-1; returns it and the acknowledge link's path and query."""
    url, received = gateway
    config = load_config(
        {
            "rotations": {"primary": {"members": [PRIMARY], "shift": "1w", "handoff": "2026-01-05T09:00"}},
            "escalation_policies": {"p": {"steps": [{"targets": ["rotation:primary"], "ack_timeout": "5m"}]}},
            "default_escalation_policy": "p",
            "services": {"checkout": {"escalation_policy": "p"}},
            "page_on_declare": [1],
            "users": {PRIMARY: {"notify_webhook": url}},
        },
        "oncall.yaml",
    )
    bot = await start_bot(
        oncall=config, pager_interval=3600, pager_wake=False, page_ack_secret="ack-secret", public_url="https://x.io"
    )
    await bot.declare("Checkout is down sev1")
    await bot.http.app[PAGER].tick()
    await bot.settle()
    await bot.http.app[PAGER].services.outbox.drain()
    link = urlsplit(received[-1]["acknowledge_url"])
    return bot, f"{link.path}?{link.query}"


async def _post(bot: Bot, link: str) -> int:
    """POST the link; wait for the Slack work it queued (card update), so none is cut off when the test ends."""
    status = (await bot.http.post(link)).status
    await bot.settle()
    return status


async def test_a_link_acknowledges_once(start_bot: StartBot, gateway: Any) -> None:
    """The first POST acknowledges; the same link again gets 403."""
    bot, link = await _paged_bot(start_bot, gateway)
    assert await _post(bot, link) == 200
    assert await _post(bot, link) == 403
    assert (await bot.api("/api/incidents/1"))["status"] == "acknowledged"


async def test_an_expired_link_is_refused(start_bot: StartBot, gateway: Any) -> None:
    """After PAGE_ACK_TTL (1 h) the link gets 403 and acknowledges nothing."""
    bot, link = await _paged_bot(start_bot, gateway)
    bot.clock.advance(timedelta(hours=1, seconds=1))
    assert await _post(bot, link) == 403
    assert (await bot.api("/api/incidents/1"))["acknowledged_at"] is None


@pytest.mark.parametrize("token", ["é", "0.0.1.\x00", "%FF%FE", "0.0.99999999999." + "a" * 64, "", "ü" * 200])
async def test_bad_tokens_get_403(start_bot: StartBot, gateway: Any, token: str) -> None:
    """Forged, non-ASCII, NUL and empty tokens get 403, never a 500."""
    bot, _ = await _paged_bot(start_bot, gateway)
    response = await bot.http.post(f"/api/pages/1:declared/ack?user={PRIMARY}&token={quote(token)}")
    assert response.status == 403


async def test_get_shows_a_confirmation_page_and_changes_nothing(start_bot: StartBot, gateway: Any) -> None:
    """A GET (an SMS link tapped, or previewed) answers an HTML page whose button POSTs; nothing is acknowledged."""
    bot, link = await _paged_bot(start_bot, gateway)
    response = await bot.http.get(link)
    page = await response.text()
    assert (response.status, response.content_type) == (200, "text/html")
    assert '<form method="post"' in page
    assert (await bot.api("/api/incidents/1"))["acknowledged_at"] is None
    assert await _post(bot, link) == 200  # the GET did not use the link up


async def test_a_link_for_a_stopped_page_does_nothing(start_bot: StartBot, gateway: Any) -> None:
    """Once the page was acknowledged another way, its link gets 403 and changes nothing."""
    bot, link = await _paged_bot(start_bot, gateway)
    await bot.command("#1 ack")
    assert await _post(bot, link) == 403
    pages = bot.http.app[PAGER].pages
    assert (await pages.get("1:declared")).status.value == "acknowledged"


async def test_a_link_stops_its_own_page_only(start_bot: StartBot, gateway: Any) -> None:
    """With a second page of the incident running, the link acknowledges the incident and stops its page only."""
    bot, link = await _paged_bot(start_bot, gateway)
    await bot.command("#1 page service:checkout", trigger_id="second-page")
    assert await _post(bot, link) == 200
    pages = bot.http.app[PAGER].pages
    first, second = await pages.get("1:declared"), await pages.get("1:manual:second-page")
    assert first is not None
    assert second is not None
    assert (first.status.value, second.status.value) == ("acknowledged", "active")
    assert (await bot.api("/api/incidents/1"))["status"] == "acknowledged"


def test_check_config_needs_its_own_secret_and_public_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a notify_webhook configured, check-config fails naming PAGE_ACK_SECRET and PUBLIC_URL."""
    config = tmp_path / "oncall.yaml"
    config.write_text("users:\n  U0PRIMARY: {notify_webhook: 'https://sms.example/hook'}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ONCALL_CONFIG", str(config))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "not-a-fallback")
    assert main(["check-config"]) == 2
    err = capsys.readouterr().err
    assert "PAGE_ACK_SECRET is not set" in err
    assert "PUBLIC_URL is not set" in err
    monkeypatch.setenv("PAGE_ACK_SECRET", "its-own")
    monkeypatch.setenv("PUBLIC_URL", "https://bot.example")
    assert main(["check-config"]) == 0
