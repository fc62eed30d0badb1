"""What the bot writes into Slack: text from people and alerts is inert, builders stay within Slack's limits,
and a squatted channel name is never adopted."""

import json
from typing import Any

from handlers.slack import BlockId, CallbackId
from tests.bot.harness import Bot
from tests.fixtures import ALERTMANAGER as FIXTURES

_HOSTILE = "<!channel> see <https://evil.example|Official runbook> & more"


def _posted(bot: Bot) -> str:
    """Every text the bot sent to Slack that Slack parses (message texts, mrkdwn objects, topics), joined.

    `plain_text` objects are left out: Slack shows them as they are, so they carry the unescaped text."""
    texts: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") != "plain_text":
                texts.extend(str(value[key]) for key in ("text", "topic") if isinstance(value.get(key), str))
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk([call.args for call in bot.slack.calls])
    return "\n".join(texts)


def _alert(summary: str, runbook_url: str, alertname: str = "EvilAlert") -> bytes:
    payload: dict[str, Any] = json.loads((FIXTURES / "01-firing-single-critical.json").read_text())
    annotations = {"summary": summary, "runbook_url": runbook_url, "description": summary}
    payload["commonAnnotations"] = annotations
    payload["groupKey"] = '{}:{alertname="EvilAlert"}'
    payload["groupLabels"] = payload["commonLabels"] = {"alertname": alertname, "severity": "critical"}
    payload["alerts"][0]["labels"] = {"alertname": alertname, "severity": "critical", "instance": "<!here>"}
    payload["alerts"][0]["annotations"] = annotations
    return json.dumps(payload).encode()


async def test_modal_text_is_escaped_everywhere(bot: Bot) -> None:
    """A modal title and description with `<!channel>` and a disguised link reach Slack only escaped."""
    values = {BlockId.TITLE: _HOSTILE, BlockId.SEVERITY: "2", BlockId.DESCRIPTION: _HOSTILE}
    assert (await bot.submit_view(CallbackId.DECLARE_MODAL, values)).status == 200
    posted = _posted(bot)
    assert "<!channel>" not in posted
    assert "<https://evil.example" not in posted
    assert "&lt;!channel&gt; see &lt;https://evil.example|Official runbook&gt; &amp; more" in posted


async def test_alert_text_is_escaped_and_a_bad_runbook_url_is_not_linked(bot: Bot) -> None:
    """An alert's summary, labels and a runbook_url with `|` reach Slack as inert text, never as links."""
    response = await bot.alert(_alert(_HOSTILE, "https://evil.example|Official runbook"))
    assert response.status == 200
    posted = _posted(bot)
    assert "<!channel>" not in posted
    assert "<!here>" not in posted
    assert "<https://evil.example" not in posted
    runbook = next(c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if "Runbook for" in c.args["text"])
    assert runbook.endswith("https://evil.example|Official runbook")


async def test_a_plain_runbook_url_is_linked(bot: Bot) -> None:
    """An http(s) runbook_url without `|` or `>` is linked."""
    await bot.alert(_alert("Disk full", "https://runbooks.example.com/disk?x=1&y=2"))
    runbook = next(c.args["text"] for c in bot.slack.calls_to("chat.postMessage") if "Runbook for" in c.args["text"])
    assert "<https://runbooks.example.com/disk?x=1&amp;y=2|" in runbook


async def test_slash_text_is_not_escaped_twice(bot: Bot) -> None:
    """Slash-command text arrives escaped by Slack; it is posted as it came, mentions staying live."""
    incident = await bot.declare("a &lt;b&gt; &amp; c sev2")
    await bot.command("note asked <@U0BOB> &amp; co", channel=incident["channel_id"])
    posted = _posted(bot)
    assert "a &lt;b&gt; &amp; c" in posted
    assert "&amp;lt;" not in posted
    assert incident["title"] == "a &lt;b&gt; &amp; c"


async def test_seventy_roles_keep_the_card_within_slack_limits(bot: Bot) -> None:
    """After 70 `role` commands every card update is still accepted by the (limit-enforcing) fake Slack."""
    channel = (await bot.declare())["channel_id"]
    for n in range(70):
        await bot.command(f"role {'r' * 30}{n} <@U0ROLE{n:04d}>", channel=channel)
    updates = bot.slack.calls_to("chat.update")
    assert len(updates) >= 70
    assert all(call.ok for call in updates), [call.error for call in updates if not call.ok]
    assert "more (see the timeline)" in json.dumps(updates[-1].args["blocks"])


async def test_a_squatted_channel_name_is_never_adopted(bot: Bot) -> None:
    """A channel someone created in advance with the next incident's name is not used: a suffixed one is made."""
    squatted = bot.slack.add_channel("inc-1-checkout-is-down", members=["U0EVE"])
    incident = await bot.declare()
    assert incident["channel_id"] != squatted
    assert incident["channel_name"].startswith("inc-1-checkout-is-down-")
    assert bot.slack.channels[incident["channel_id"]].creator == "U0BOT"
    assert "U0ALICE" not in bot.slack.channels[squatted].members
