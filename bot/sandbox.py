"""The sandbox: without Slack credentials, the bot talks to the built-in Slack emulator and serves its page.

The emulator (`sandbox/`) knows nothing of Firebreak. This module seeds its workspace (#general,
#incidents, #alerts and a cast of four people), points the settings at it, wires the page's "Fire an alert"
buttons to the captured Alertmanager payloads in `drills/alertmanager/`, and mounts it all into the bot's
own aiohttp application: the page at `/sandbox/`, the emulated Web API at `/sandbox/slack/api/`.
"""

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from pydantic import SecretStr

from bot.drills import Drill, scenarios
from bot.settings import Settings, SettingsError
from domain.drill import Say, Scenario
from domain.paging_config import OnCall, load_config
from sandbox.page import Play, Sandbox, Webhook, fire
from sandbox.page import application as page_application
from sandbox.people import AppLink, People
from sandbox.slack_api import BOT_USER_ID, SlackEmulator

ROOT = Path(__file__).resolve().parents[1]
ALERT_PAYLOADS = ROOT / "drills" / "alertmanager"
MANIFEST = ROOT / "manifest.yml"
PAGE_PATH, API_PATH = "/sandbox/", "/sandbox/slack/"
CAST = (  # (user id, handle, name): the person switcher's order
    ("U0CASEY", "casey", "Casey (incident commander)"),
    ("U0PRIYA", "priya", "Priya (on call, primary)"),
    ("U0SAM", "sam", "Sam (on call, secondary)"),
    ("U0MORGAN", "morgan", "Morgan (engineering manager)"),
)
GENERAL, INCIDENTS, ALERTS = "C0GENERAL", "C0INCIDENTS", "C0ALERTS"
_ALERTS = {  # page button -> captured payload
    "fire-critical": ("Critical alert fires", "01-firing-single-critical.json"),
    "fire-group": ("Group of 3 fires", "03-firing-group-of-3.json"),
    "resolve-group": ("Group of 3 resolves", "05-resolved-group-of-3.json"),
}
SANDBOX_ONCALL = {
    "timezone": "Etc/UTC",
    "rotations": {
        "primary": {"members": ["U0PRIYA"], "shift": "1w", "handoff": "2026-01-05T09:00"},
        "secondary": {"members": ["U0SAM"], "shift": "1w", "handoff": "2026-01-05T09:00"},
    },
    "escalation_policies": {
        "platform": {
            "steps": [
                {"targets": ["rotation:primary"], "ack_timeout": "5m"},
                {"targets": ["rotation:secondary", "user:U0MORGAN"], "ack_timeout": "10m"},
            ],
        }
    },
    "default_escalation_policy": "platform",
    "page_on_declare": [1, 2],
}
SANDBOX_APP = web.AppKey("sandbox", Sandbox)


@dataclass(frozen=True)
class SandboxSetup:
    """The emulator, and the settings and on-call config that point the bot at it."""

    slack: SlackEmulator
    settings: Settings
    oncall: OnCall


def wanted(settings: Settings) -> bool:
    """The sandbox runs when no Slack credentials are set at all: never a mix of real and emulated Slack."""
    return settings.slack_bot_token is None and settings.slack_app_token is None


def prepare(settings: Settings, oncall: OnCall | None) -> SandboxSetup:
    """Seed the emulated workspace and point the settings at it; only on a loopback address."""
    if not settings.on_loopback:
        raise SettingsError(
            f"HOST={settings.host}: the sandbox listens on loopback only; set HOST=127.0.0.1, or set "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to connect a real Slack workspace"
        )
    base = f"http://127.0.0.1:{settings.port}"
    slack = SlackEmulator(base_url=base + API_PATH)
    for user_id, handle, name in CAST:
        slack.add_user(handle, real_name=name, user_id=user_id, email=f"{handle}@sandbox.example")
    everyone = [BOT_USER_ID, *(user_id for user_id, _, _ in CAST)]
    for channel_id, name in ((GENERAL, "general"), (INCIDENTS, "incidents"), (ALERTS, "alerts")):
        slack.add_channel(name, channel_id=channel_id, members=everyone)
    pointed = settings.model_copy(
        update={
            "slack_bot_token": SecretStr("xoxb-sandbox"),
            "slack_signing_secret": SecretStr(secrets.token_hex(16)),
            "slack_api_url": slack.url,
            "incidents_channel": settings.incidents_channel or INCIDENTS,
            "alerts_channel": settings.alerts_channel or ALERTS,
        }
    )
    return SandboxSetup(slack, pointed, oncall or load_config(SANDBOX_ONCALL, "the sandbox's on-call config"))


def mount(app: web.Application, setup: SandboxSetup) -> Sandbox:
    """Serve the emulated Web API and the page from the bot's application; `/` leads to the page."""
    settings = setup.settings
    base = f"http://127.0.0.1:{settings.port}"
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    people = People(setup.slack, AppLink(base + "/slack/events", secret), settings.incident_command)
    webhooks = _alert_webhooks(base, settings)
    sandbox = Sandbox(
        slack=setup.slack,
        people=people,
        cast=[user_id for user_id, _, _ in CAST],
        shortcuts=message_shortcuts(MANIFEST),
        webhooks=webhooks,
        plays=_drills(base, people, webhooks["fire-critical"]),
        title="Firebreak sandbox",
    )
    app.add_subapp(API_PATH, setup.slack.application())
    app.add_subapp(PAGE_PATH, page_application(sandbox))
    app[SANDBOX_APP] = sandbox

    async def to_page(request: web.Request) -> web.Response:
        raise web.HTTPFound(PAGE_PATH)

    app.router.add_get("/", to_page)
    return sandbox


def _drills(base: str, people: People, alert: Webhook) -> dict[str, Play]:
    """Each scenario in drills/ as a page button: its alerts go to the webhook, its people say their lines."""

    async def send_alert(body: bytes) -> int:
        return await fire(_http(people), replace(alert, body=body))

    def play(scenario: Scenario) -> Callable[[], Coroutine[object, None, object]]:
        async def start() -> object:
            run = secrets.token_hex(4)  # each play is its own run: its alerts are new groups

            async def say(line: Say) -> None:
                channel = await _channel_for(base, people, line.where, run)
                user = next((user_id for user_id, handle, _ in CAST if handle == line.who), None)
                if channel is not None and user is not None:
                    await people.post_message(user, channel, line.say)

            return await Drill(scenario, send_alert, say=say, run=run).play()

        return start

    return {name: Play(s.name, s.hint, play(s)) for name, s in scenarios().items()}


async def _channel_for(base: str, people: People, where: str, run: str) -> str | None:
    """`incident`: the channel of the drill's incident (asked of the bot's API); else the channel so named."""
    if where != "incident":
        return next((c.id for c in people.slack.channels.values() if c.name == where), None)
    async with _http(people).get(base + "/api/incidents?status=all") as response:
        incidents = (await response.json()).get("incidents", [])
    ours = [i for i in incidents if run in str((i.get("source") or {}).get("group_key", ""))]
    return str(ours[-1]["channel_id"]) if ours and ours[-1].get("channel_id") else None


def _http(people: People) -> aiohttp.ClientSession:
    if people.app.http is None:
        raise RuntimeError("the sandbox page is not running")
    return people.app.http


def message_shortcuts(manifest: Path) -> list[tuple[str, str]]:
    """The message shortcuts the app's manifest declares, as Slack offers them on every message."""
    features = (yaml.safe_load(manifest.read_text()) or {}).get("features") or {}
    return [
        (str(shortcut["callback_id"]), str(shortcut["name"]))
        for shortcut in features.get("shortcuts") or []
        if shortcut.get("type") == "message"
    ]


def _alert_webhooks(base: str, settings: Settings) -> dict[str, Webhook]:
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0"}
    if settings.alertmanager_token is not None:
        headers["Authorization"] = f"Bearer {settings.alertmanager_token.get_secret_value()}"
    return {
        name: Webhook(label, base + "/webhooks/alertmanager", (ALERT_PAYLOADS / file).read_bytes(), headers)
        for name, (label, file) in _ALERTS.items()
    }
