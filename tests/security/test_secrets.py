"""No secret reaches a log line or a terminal: webhook URLs, settings errors, check-config, tracebacks."""

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from bot.cli import main
from bot.settings import SettingsError, load_settings
from domain.paging_config import load_config
from handlers.paging import PAGER
from tests.bot.harness import Bot

_SECRET = "hunter2-secret"


async def test_webhook_urls_are_logged_without_credentials_or_query(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """A notify_webhook URL with a password and a key in its query is logged as scheme, host and path."""

    calls: list[int] = []

    async def refuse(request: web.Request) -> web.Response:  # once, so the failure is logged and retried
        calls.append(1)
        return web.Response(status=503 if len(calls) == 1 else 200)

    app = web.Application()
    app.router.add_post("/sms", refuse)
    async with TestServer(app, host="127.0.0.1") as server:
        url = f"http://gw:{_SECRET}@127.0.0.1:{server.port}/sms?key={_SECRET}"
        config = load_config(
            {
                "rotations": {"r": {"members": ["U0P"], "shift": "1w", "handoff": "2026-01-05T09:00"}},
                "escalation_policies": {"p": {"steps": [{"targets": ["rotation:r"], "ack_timeout": "5m"}]}},
                "default_escalation_policy": "p",
                "page_on_declare": [1],
                "users": {"U0P": {"notify_webhook": url}},
            },
            "oncall.yaml",
        )
        bot = await start_bot(
            oncall=config, pager_interval=3600, pager_wake=False, page_ack_secret="s", public_url="https://x.io"
        )
        with capture_logs() as logs:
            await bot.declare("Checkout is down sev1")
            await bot.http.app[PAGER].tick()
            await bot.http.app[PAGER].services.outbox.drain()
    urls = {log["url"] for log in logs if log["event"] in {"page_webhook_failed", "page_webhook_delivered"}}
    assert urls == {"http://127.0.0.1/sms"}
    assert _SECRET not in json.dumps(logs, default=str)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("database_url", f"mysql://u:{_SECRET}@db/firebreak"),
        ("redis_url", f"http://:{_SECRET}@redis:6379"),
        ("slack_api_url", f"ftp://u:{_SECRET}@slack"),
        ("slack_bot_token", f"xoxp-{_SECRET}"),
    ],
)
def test_setting_errors_never_echo_urls_or_secrets(setting: str, value: str) -> None:
    """A bad URL or secret setting is named, its value is not shown."""
    with pytest.raises(SettingsError) as error:
        load_settings(_env_file=None, **{setting: value})
    assert setting.upper() in str(error.value)
    assert _SECRET not in str(error.value)


def test_check_config_does_not_echo_database_or_redis_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """check-config with passwords in DATABASE_URL and REDIS_URL prints neither."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{_SECRET}@127.0.0.1:1/db")
    monkeypatch.setenv("REDIS_URL", f"redis://:{_SECRET}@127.0.0.1:1/0")
    assert main(["check-config"]) == 0
    printed = capsys.readouterr()
    assert _SECRET not in printed.out + printed.err


def test_tracebacks_carry_no_frame_locals(tmp_path: Path) -> None:
    """An exception logged by the configured chain (JSON) shows its frames but not their local variables."""
    script = f"""
import structlog
from bot.logging import configure_logging
from bot.settings import Settings
configure_logging(Settings(_env_file=None))
def fail(token):
    raise RuntimeError("boom")
try:
    fail("{_SECRET}")
except RuntimeError:
    structlog.get_logger().exception("listener_failed")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert line["exception"][0]["frames"]
    assert _SECRET not in done.stdout + done.stderr
