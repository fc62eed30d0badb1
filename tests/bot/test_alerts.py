"""Alertmanager webhooks open, follow and close incidents, with the real captured payloads."""

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from bot.appkeys import WORKER
from handlers.slack import ActionId
from tests.bot.harness import ALERTMANAGER_TOKEN, BOB, Bot
from tests.fixtures import ALERTMANAGER as FIXTURES

CHECKOUT_GROUP = '{}:{alertname="CheckoutHighErrorRate"}'
DISK_GROUP = '{}:{alertname="NodeDiskSpaceLow"}'


def _payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def _resolved(payload: dict[str, Any], ends_at: str = "2026-11-25T03:10:00Z") -> dict[str, Any]:
    alerts = [alert | {"status": "resolved", "endsAt": ends_at} for alert in payload["alerts"]]
    return payload | {"status": "resolved", "alerts": alerts}


async def _kinds(bot: Bot, number: int) -> list[str]:
    return [e["kind"] for e in (await bot.api(f"/api/incidents/{number}/timeline"))["events"]]


async def test_critical_alert_declares_an_incident(bot: Bot) -> None:
    """A critical alert group opens a SEV-1 incident with no declarer, its source, channel, card and runbook."""
    response = await bot.fixture("01-firing-single-critical")
    assert response.status == 200
    assert (await response.json())["status"] == "accepted"
    incident = await bot.api("/api/incidents/1")
    assert (incident["title"], incident["severity"], incident["declared_by"]) == (
        "Checkout 5xx error rate above 5%",
        1,
        None,
    )
    assert incident["source"] == {"kind": "alertmanager", "group_key": CHECKOUT_GROUP}
    assert await _kinds(bot, 1) == ["alert_firing", "declared", "runbook"]  # the alert fired at 02:59:37
    channel = incident["channel_id"]
    posts = [c.args for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == channel]
    [runbook] = [p["text"] for p in posts if "Runbook for `CheckoutHighErrorRate`" in p["text"]]
    assert "Checkout is returning 5xx errors" in runbook  # the local runbook, and the alert's own link too
    assert "<https://runbooks.example.com/checkout/high-error-rate|" in runbook
    card = bot.slack.messages[(channel, bot.slack.calls_to("pins.add")[0].args["timestamp"])]
    assert "🔥 1 firing" in json.dumps(card["blocks"], ensure_ascii=False)


async def test_repeated_notification_changes_nothing(bot: Bot) -> None:
    """A byte-identical repeat (Alertmanager's repeat_interval) adds no event and sends no message."""
    await bot.fixture("01-firing-single-critical")
    events, calls = await _kinds(bot, 1), len(bot.slack.calls)
    response = await bot.fixture("02-repeat-single-critical")
    assert response.status == 200
    assert (await response.json())["status"] == "duplicate"
    assert await _kinds(bot, 1) == events
    assert len(bot.slack.calls) == calls


async def test_warning_group_is_posted_once_and_updated_in_place(bot: Bot) -> None:
    """Below the threshold no incident is declared; one alerts-channel message follows the group."""
    await bot.fixture("03-firing-group-of-3")
    await bot.fixture("04-firing-group-one-resolved")
    await bot.fixture("05-resolved-group-of-3")
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
    posts = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["channel"] == bot.alerts_channel]
    assert len(posts) == 1
    assert "Declare incident" in json.dumps(posts[0].args["blocks"])
    assert "🔥 3 firing" in json.dumps(posts[0].args["blocks"], ensure_ascii=False)
    posted_ts = bot.slack.calls_to("chat.update")[-1].args["ts"]
    assert all(c.args["ts"] == posted_ts for c in bot.slack.calls_to("chat.update"))
    final = bot.slack.messages[(bot.alerts_channel, posted_ts)]
    assert "resolved" in json.dumps(final["blocks"])
    assert "Declare incident" not in json.dumps(final["blocks"])


async def test_declare_button_turns_a_group_into_an_incident(bot: Bot) -> None:
    """ "Declare incident" on a group's message declares it with its alerts; the group then follows it."""
    await bot.fixture("03-firing-group-of-3")
    value = json.dumps({"group_key": DISK_GROUP})
    assert (await bot.click(ActionId.DECLARE_FROM_ALERTS, value, user=BOB)).status == 200
    incident = await bot.api("/api/incidents/1")
    assert (incident["declared_by"], incident["severity"], incident["title"]) == (BOB, 3, "Disk space low on /var")
    assert await _kinds(bot, 1) == ["alert_firing", "alert_firing", "alert_firing", "declared"]
    [group_message] = [m for (c, _), m in bot.slack.messages.items() if c == bot.alerts_channel]
    assert "declared as incident #1" in json.dumps(group_message["blocks"])
    await bot.fixture("04-firing-group-one-resolved")
    assert (await _kinds(bot, 1))[-1] == "alert_resolved"
    await bot.fixture("05-resolved-group-of-3")
    notices = [c for c in bot.slack.calls_to("chat.postMessage") if c.args["text"] == "All alerts resolved"]
    assert len(notices) == 1
    assert (await bot.api("/api/incidents/1"))["status"] == "declared"  # no auto-resolve by default


async def test_severity_override_label_declares(bot: Bot) -> None:
    """An `incident_severity` label wins over the severity map."""
    payload = _payload("03-firing-group-of-3")
    for alert in payload["alerts"]:
        alert["labels"]["incident_severity"] = "sev2"
    await bot.alert(json.dumps(payload))
    assert (await bot.api("/api/incidents/1"))["severity_label"] == "SEV-2"


async def test_truncated_alerts_show_on_the_card(bot: Bot) -> None:
    """Alertmanager's truncatedAlerts appears on the card as "and N more"."""
    await bot.fixture("06-firing-truncated-max-alerts-2")
    incident = await bot.api("/api/incidents/1")
    card = bot.slack.messages[(incident["channel_id"], bot.slack.calls_to("pins.add")[0].args["timestamp"])]
    text = json.dumps(card["blocks"], ensure_ascii=False)
    assert "🔥 2 firing" in text
    assert "and 2 more" in text


async def test_all_resolved_auto_resolves_when_configured(start_bot: Any) -> None:
    """With auto-resolve on for SEV-1, the incident resolves when every alert has."""
    bot = await start_bot(alert_auto_resolve="sev1")
    await bot.fixture("01-firing-single-critical")
    bot.clock.advance(timedelta(minutes=15))
    await bot.alert(json.dumps(_resolved(_payload("01-firing-single-critical"))))
    incident = await bot.api("/api/incidents/1")
    assert incident["status"] == "resolved"
    assert (await _kinds(bot, 1))[-2:] == ["alert_resolved", "resolved"]


async def test_refiring_within_window_reopens(bot: Bot) -> None:
    """A group firing again within the reopen window reopens its incident."""
    await bot.fixture("01-firing-single-critical")
    await bot.command("#1 resolve")
    bot.clock.advance(timedelta(minutes=30))
    again = _payload("01-firing-single-critical")
    again["alerts"][0]["startsAt"] = "2026-11-25T03:29:00Z"
    await bot.alert(json.dumps(again))
    assert (await bot.api("/api/incidents/1"))["status"] == "investigating"
    assert (await _kinds(bot, 1))[-2:] == ["alert_firing", "reopened"]  # fired 03:29, reopened 03:30
    assert len((await bot.api("/api/incidents?status=all"))["incidents"]) == 1


async def test_refiring_after_window_declares_anew(bot: Bot) -> None:
    """After the window, the same group opens a new incident."""
    await bot.fixture("01-firing-single-critical")
    await bot.command("#1 resolve")
    bot.clock.advance(timedelta(hours=2))
    again = _payload("01-firing-single-critical")
    again["alerts"][0]["startsAt"] = "2026-11-25T04:59:00Z"
    await bot.alert(json.dumps(again))
    incidents = (await bot.api("/api/incidents?status=all"))["incidents"]
    assert [(i["number"], i["status"]) for i in incidents] == [(2, "declared"), (1, "resolved")]


async def test_unknown_keys_are_tolerated(bot: Bot) -> None:
    """Keys added by newer Alertmanagers (notification_reason, routeLabels) are ignored."""
    payload = _payload("01-firing-single-critical") | {"notification_reason": "new", "routeLabels": {"a": "b"}}
    payload["alerts"][0]["newField"] = 1
    assert (await bot.alert(json.dumps(payload))).status == 200
    assert (await bot.api("/api/incidents/1"))["severity"] == 1


async def test_basic_auth_password_is_accepted(bot: Bot) -> None:
    """Basic auth whose password is the token is accepted, as Alertmanager's http_config can send."""
    basic = base64.b64encode(f"alertmanager:{ALERTMANAGER_TOKEN}".encode()).decode()
    body = (FIXTURES / "01-firing-single-critical.json").read_bytes()
    response = await bot.alert(body, token=None, headers={"Authorization": f"Basic {basic}"})
    assert response.status == 200


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [
        ("fixture", {}, 401, "missing or wrong Authorization"),
        ("fixture", {"Authorization": "Bearer nope"}, 401, "missing or wrong Authorization"),
        ("fixture", {"Authorization": "Basic " + base64.b64encode(b"u:nope").decode()}, 401, "wrong Authorization"),
        ("{not json", "auth", 400, "not valid JSON"),
        ('{"version": "4"}', "auth", 400, "groupKey: Field required"),
        ("no-fingerprint", "auth", 400, "alerts.0.fingerprint: Field required"),
        ("version-3", "auth", 400, "version '3' is not supported"),
        ("empty-alerts", "auth", 400, "alerts: List should have at least 1 item"),
        ("huge", "auth", 413, "larger than"),
    ],
)
async def test_refused_webhooks_store_nothing(
    bot: Bot, body: str, headers: dict[str, str] | str, status: int, message: str
) -> None:
    """Bad credentials get 401, malformed bodies 400 naming the problem, oversize 413; nothing is stored."""
    await bot.fixture("03-firing-group-of-3")
    calls = len(bot.slack.calls)
    payload = _payload("01-firing-single-critical")
    bodies = {
        "fixture": json.dumps(payload),
        "no-fingerprint": json.dumps(
            payload | {"alerts": [{k: v for k, v in payload["alerts"][0].items() if k != "fingerprint"}]}
        ),
        "version-3": json.dumps(payload | {"version": "3"}),
        "empty-alerts": json.dumps(payload | {"alerts": []}),
        "huge": json.dumps(payload | {"commonAnnotations": {"summary": "x" * (1024 * 1024)}}),
    }
    if headers == "auth":
        response = await bot.alert(bodies.get(body, body))
    else:
        assert isinstance(headers, dict)
        response = await bot.alert(bodies[body], token=None, headers=headers)
    assert response.status == status
    assert message in (await response.json())["error"]
    assert (await bot.api("/api/incidents?status=all"))["incidents"] == []
    assert len(bot.slack.calls) == calls


async def test_storage_down_answers_503(start_bot: Any) -> None:
    """With Redis unreachable the webhook answers 503 so Alertmanager retries."""
    bot = await start_bot(redis_url="redis://127.0.0.1:1/0")
    body = (FIXTURES / "01-firing-single-critical.json").read_bytes()
    response = await bot.admit(body)  # bot.alert would wait for a worker that cannot read
    assert response.status == 503
    assert "retry" in (await response.json())["error"]
    assert (
        'firebreak_alert_notifications_total{outcome="unavailable"} 1.0'
        in await (await bot.http.get("/metrics")).text()
    )


async def test_each_notification_is_counted_by_its_outcome(bot: Bot) -> None:
    """Admitted, a duplicate, malformed: each counted in `firebreak_alert_notifications_total`, every outcome
    listed from the start (at 0), whatever the log level."""
    await bot.fixture("01-firing-single-critical")
    await bot.fixture("02-repeat-single-critical")
    assert (await bot.alert(json.dumps({"version": "4"}))).status == 400
    exposition = await (await bot.http.get("/metrics")).text()
    counted = {
        line.split('"')[1]: float(line.rsplit(" ", 1)[1])
        for line in exposition.splitlines()
        if line.startswith("firebreak_alert_notifications_total{")
    }
    assert counted == {"admitted": 1.0, "duplicate": 1.0, "malformed": 1.0, "unavailable": 0.0}


async def test_without_token_loopback_is_accepted(start_bot: Any) -> None:
    """With no ALERTMANAGER_TOKEN, loopback clients may post (and remote ones may not)."""
    bot = await start_bot(alertmanager_token=None)
    response = await bot.alert((FIXTURES / "01-firing-single-critical.json").read_bytes(), token=None)
    assert response.status == 200


async def test_storm_card_updates_are_coalesced(start_bot: Any) -> None:
    """Fifty notifications for one incident within one card interval cause one card update, not fifty."""
    bot = await start_bot(card_update_interval=60)  # the longest allowed: the storm fits in one interval
    payload = _payload("06-firing-truncated-max-alerts-2")
    template = payload["alerts"][0]
    for n in range(50):
        alert = template | {"fingerprint": f"fp{n:04d}", "labels": template["labels"] | {"instance": f"db-{n}"}}
        payload["alerts"] = [alert]
        await bot.http.post(
            "/webhooks/alertmanager",
            data=json.dumps(payload),
            headers={"Authorization": f"Bearer {ALERTMANAGER_TOKEN}", "Content-Type": "application/json"},
        )
    await bot.http.app[WORKER].caught_up()  # every notification stored; the rest wait as one refresh
    await bot.slack.wait_for("chat.update")
    assert len([e for e in await _kinds(bot, 1) if e == "alert_firing"]) == 50
    assert len(bot.slack.calls_to("chat.update")) == 1


async def test_a_group_with_a_very_long_key_is_posted_and_updated(bot: Bot) -> None:
    """Alertmanager's group keys hold every grouping label: a 4 KB one still gets its alerts-channel message."""
    firing = _payload("03-firing-group-of-3")
    firing["groupKey"] = '{}:{alertname="NodeDiskSpaceLow", team="' + "storage-" * 500 + '"}'
    assert (await bot.alert(json.dumps(firing))).status == 200
    resolved = _resolved(firing)
    assert (await bot.alert(json.dumps(resolved))).status == 200
    posts = [c for c in bot.slack.calls_to("chat.postMessage") if c.ok and c.args["channel"] == bot.alerts_channel]
    assert len(posts) == 1
    final = bot.slack.messages[(bot.alerts_channel, str(bot.slack.calls_to("chat.update")[-1].args["ts"]))]
    assert "resolved" in json.dumps(final["blocks"])
