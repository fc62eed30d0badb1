"""The numbers through the running bot: `/incident stats`, the API, the report and `/metrics` agree."""

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.appkeys import WORKER
from bot.cli import main
from handlers.slack import BlockId, CallbackId
from tests.bot.harness import ALICE, GENERAL, Bot
from tests.services import is_ci

ROOT = Path(__file__).resolve().parents[2]
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")  # structlog's console lines


def promtool() -> str:
    """promtool's path; outside CI a missing one skips, saying how to install it."""
    found = shutil.which("promtool")
    if found is None:
        if is_ci(os.environ):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("promtool not installed: `apt-get install prometheus` (Debian's package carries promtool)")
    return found


async def stats_reply(bot: Bot, text: str) -> dict[str, Any]:
    """Type `/incident stats …` and return the whole JSON reply (text and blocks)."""
    form = {
        "team_id": "T0TEAM", "channel_id": GENERAL, "user_id": ALICE, "command": "/incident", "text": text,
        "api_app_id": "A0APP", "response_url": bot.response_url(), "trigger_id": f"trigger-{uuid4().hex}",
    }  # fmt: skip
    response = await bot.post_signed(urlencode(form), "application/x-www-form-urlencoded")
    assert response.status == 200
    reply: dict[str, Any] = json.loads(await response.text())
    return reply


async def run_three_incidents(bot: Bot) -> None:
    """#1 SEV-1 acked after 10 min, resolved after 2 h; #2 SEV-2 acked after 30 min, still open; #3 a drill."""
    one = await bot.declare("Checkout is down sev1 service:checkout")
    bot.clock.advance(timedelta(minutes=10))
    await bot.command("ack", channel=one["channel_id"])
    two = await bot.declare("Search is slow sev2 service:search")
    bot.clock.advance(timedelta(minutes=30))
    await bot.command("ack", channel=two["channel_id"])
    drill = await bot.declare("--drill Game day sev1 service:checkout")
    await bot.command("ack", channel=drill["channel_id"])
    bot.clock.advance(timedelta(minutes=80))
    await bot.command("resolve rolled back", channel=one["channel_id"])
    await bot.command("resolve done", channel=drill["channel_id"])


async def test_stats_api_report_and_metrics_agree(bot: Bot) -> None:
    """One closed SEV-1 (MTTA 10 min, MTTR 2 h), one open SEV-2, a drill nowhere: every surface says the same."""
    await run_three_incidents(bot)
    body = await bot.api("/api/metrics/incidents?window=7d")
    assert (body["incidents"], body["open_incidents"]) == (2, 1)
    assert body["mtta"] == {
        "count": 1, "mean_seconds": 600.0, "median_seconds": 600.0, "p90_seconds": 600.0,
        "goal": {"below_seconds": 900}, "met": True,
    }  # fmt: skip
    assert (body["mttr"]["mean_seconds"], body["mttr"]["met"]) == (7200.0, True)
    sev1 = body["severities"][0]
    assert (sev1["response_met"], sev1["response_judged"], sev1["resolution_met"]) == (1, 1, 1)

    reply = await stats_reply(bot, "stats 7d")
    table = next(block for block in reply["blocks"] if block["type"] == "table")
    rows = {row[0]["text"]: [cell["text"] for cell in row[1:]] for row in table["rows"]}
    assert rows["MTTA"] == ["10 min (median 10 min, p90 10 min)", "< 15 min", "✅"]
    assert rows["MTTR"] == ["2 h (median 2 h, p90 2 h)", "< 4 h", "✅"]
    assert rows["SEV-1 response in target"] == ["100 % of 1", "within 15 min", "✅"]
    assert rows["MTBF checkout (1 incident)"] == ["n/a", "> 30 d", "n/a"]  # one incident has no gap
    assert rows["Availability checkout"] == ["98.810 %", "> 99.9 %", "❌"]  # 2 h of impact in 168 h

    report = await bot.api("/api/reports/incidents?from=2026-11-25&to=2026-11-25")
    assert [(r["number"], r["response"], r["resolution"]) for r in report["incidents"]] == [
        (1, "met", "met"),
        (2, "met", "running"),
    ]

    exposition = await (await bot.http.get("/metrics")).text()
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    declared = {
        s.labels["severity"]: s.value
        for s in families["firebreak_incidents_declared"].samples
        if s.name.endswith("_total")
    }
    assert declared == {"SEV-1": 1.0, "SEV-2": 1.0}
    open_now = {s.labels["severity"]: s.value for s in families["firebreak_incidents_open"].samples}
    assert open_now == {"SEV-1": 0.0, "SEV-2": 1.0, "SEV-3": 0.0, "SEV-4": 0.0}
    ack = families["firebreak_incident_acknowledge_duration_seconds"].samples
    assert {s.labels["le"] for s in ack if s.name.endswith("_bucket")} >= {"900.0", "3600.0", "14400.0", "86400.0"}
    assert sum(s.value for s in ack if s.name.endswith("_count")) == 2


async def test_stats_filters_by_service_and_severity(bot: Bot) -> None:
    """`stats 30d service:search sev2` counts only the open SEV-2, which is in no average."""
    await run_three_incidents(bot)
    reply = await stats_reply(bot, "stats 30d service:search sev2")
    assert "1 incidents (SEV-2: 1), 1 still open" in reply["blocks"][0]["text"]["text"]
    table = next(block for block in reply["blocks"] if block["type"] == "table")
    assert [cell["text"] for cell in table["rows"][1]] == ["MTTA", "n/a", "< 15 min", "n/a"]


async def test_bad_stats_and_api_arguments_say_the_right_form(bot: Bot) -> None:
    """A wrong period is refused with the form, in Slack and in the API."""
    assert "stats [7d|30d|90d|<from>..<to>]" in await bot.command("stats 2w")
    assert "2026-11-01..2026-11-30" in await bot.command("stats 2026-13-01..2026-11-30")
    body = await bot.api("/api/metrics/incidents?window=2w", status=400)
    assert "7d, 30d, 90d" in body["error"]
    body = await bot.api("/api/reports/incidents?from=2026-11-01", status=400)
    assert "format=json|csv|md" in body["error"]


async def test_report_as_csv_and_markdown(bot: Bot) -> None:
    """The auditors' report lists every non-drill incident with its targets, in CSV and Markdown."""
    await run_three_incidents(bot)
    csv_text = await (await bot.http.get("/api/reports/incidents?from=2026-11-25&to=2026-11-25&format=csv")).text()
    lines = csv_text.splitlines()
    assert lines[0].startswith("number,title,severity,service,status,declared_at")
    assert lines[1].startswith("1,Checkout is down,SEV-1,checkout,resolved,2026-11-25T03:00:00Z")
    assert len(lines) == 3
    markdown = await (await bot.http.get("/api/reports/incidents?from=2026-11-25&to=2026-11-25&format=md")).text()
    assert "2 incidents (drills left out)" in markdown
    assert "| 2 | Search is slow | SEV-2 | search | acknowledged |" in markdown


async def test_drills_are_labelled(bot: Bot) -> None:
    """A drill runs like any incident but its card, topic and announcement say DRILL."""
    drill = await bot.declare("--drill Game day sev2")
    card = bot.slack.calls_to("chat.postMessage")[0].args
    assert "[DRILL] #1 Game day" in json.dumps(card["blocks"], ensure_ascii=False)
    assert bot.slack.channels[drill["channel_id"]].topic.startswith("DRILL |")
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert events[0]["text"] == "Declared drill SEV-2: Game day"


async def test_metrics_exposition_passes_promtool(bot: Bot) -> None:
    """`/metrics` follows Prometheus naming rules as `promtool check metrics` reads them."""
    await run_three_incidents(bot)
    await bot.api("/api/incidents")
    exposition = await (await bot.http.get("/metrics")).text()
    command = [promtool(), "check", "metrics"]
    checked = await asyncio.to_thread(subprocess.run, command, input=exposition, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""
    assert 'firebreak_http_requests_total{method="GET",route="/api/incidents",status="200"} 1.0' in exposition
    assert 'firebreak_slack_api_calls_total{method="chat.postMessage"}' in exposition


async def test_slack_errors_are_counted_per_method(bot: Bot) -> None:
    """A refused Slack call counts as a call and as an error of its method with Slack's error code."""
    bot.slack.fail("conversations.create", "restricted_action")
    await bot.command("declare Checkout is down")
    exposition = await (await bot.http.get("/metrics")).text()
    assert 'firebreak_slack_api_errors_total{error="restricted_action",method="conversations.create"} 1.0' in exposition


async def test_the_active_alert_worker_says_so_until_it_stops(bot: Bot) -> None:
    """`firebreak_alert_worker_active` is 1 while the bot's worker holds the lease, 0 once it stopped."""
    active = "firebreak_alert_worker_active 1.0"
    for _ in range(100):  # bounded (2 s): its first renewal sets the gauge
        if active in (await (await bot.http.get("/metrics")).text()).splitlines():
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the bot's alert worker never reported itself active")
    await bot.http.app[WORKER].stop()
    exposition = await (await bot.http.get("/metrics")).text()
    assert "firebreak_alert_worker_active 0.0" in exposition.splitlines()


def test_deploy_rules_pass_promtool_and_their_tests() -> None:
    """The shipped rules load in Prometheus and their unit tests pass."""
    rules = ROOT / "deploy" / "prometheus"
    checked = subprocess.run([promtool(), "check", "rules", str(rules / "firebreak-rules.yml")], capture_output=True)
    assert checked.returncode == 0, checked.stdout
    tested = subprocess.run([promtool(), "test", "rules", str(rules / "firebreak-rules.test.yml")], capture_output=True)
    assert tested.returncode == 0, tested.stdout


async def test_dashboard_and_rules_use_only_exported_metrics(bot: Bot) -> None:
    """Every firebreak_* series the dashboard and rules query is one `/metrics` exports."""
    exposition = await (await bot.http.get("/metrics")).text()
    exported = {f.name for f in text_string_to_metric_families(exposition)}
    exported |= {f"{name}_{suffix}" for name in exported for suffix in ("total", "bucket", "count", "sum")}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "firebreak.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append((ROOT / "deploy" / "prometheus" / "firebreak-rules.yml").read_text())
    used = {name for query in queries for name in re.findall(r"\bfirebreak_[a-z_]+", query)}
    assert used
    assert used <= exported, used - exported


async def test_metrics_token_guards_the_scrape(start_bot: Callable[..., Awaitable[Bot]]) -> None:
    """With METRICS_TOKEN set, `/metrics` wants it as a bearer token (the API's rule, its own secret)."""
    bot = await start_bot(metrics_token="scrape-secret")
    assert (await bot.http.get("/metrics")).status == 401
    scraped = await bot.http.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert scraped.status == 200
    assert scraped.headers["Content-Type"].startswith("text/plain; version=0.0.4")


async def test_report_command_line(
    bot: Bot, make_settings: Callable[..., Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`firebreak report --from --to --format csv` prints the same rows as the API."""
    await run_three_incidents(bot)
    settings = make_settings()
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.chdir(settings.data_dir)
    capsys.readouterr()  # the bot's own log lines so far
    code = await asyncio.to_thread(main, ["report", "--from", "2026-11-25", "--to", "2026-11-25", "--format", "csv"])
    assert code == 0
    # the bot shares this process: a log line of its background loops (an update reminder) may land among the rows
    printed = [line for line in capsys.readouterr().out.splitlines() if not _LOG_LINE.match(line)]
    api = await (await bot.http.get("/api/reports/incidents?from=2026-11-25&to=2026-11-25&format=csv")).text()
    assert printed[:2] == api.splitlines()[:2]  # the open incident's verdict depends on the real clock
    assert len(printed) == len(api.splitlines()) == 3


async def test_a_reopened_incident_counts_only_once_resolved_again(bot: Bot) -> None:
    """Resolved at 1 h then reopened, it is open (in no average); resolved again at 3 h, MTTR is 3 h."""
    incident = await bot.declare("Checkout is down sev2")
    channel = incident["channel_id"]
    bot.clock.advance(timedelta(hours=1))
    await bot.command("resolve", channel=channel)
    assert (await bot.api("/api/metrics/incidents?window=7d"))["mttr"]["mean_seconds"] == 3600.0
    await bot.command("reopen", channel=channel)
    reopened = await bot.api("/api/metrics/incidents?window=7d")
    assert (reopened["mttr"]["count"], reopened["open_incidents"]) == (0, 1)
    bot.clock.advance(timedelta(hours=2))
    await bot.command("resolve", channel=channel)
    again = await bot.api("/api/metrics/incidents?window=7d")
    assert (again["mttr"]["count"], again["mttr"]["mean_seconds"], again["open_incidents"]) == (1, 10800.0, 0)
    resolved = [s for s in text_string_to_metric_families(await (await bot.http.get("/metrics")).text())]
    counts = {f.name: sum(s.value for s in f.samples if s.name.endswith("_total")) for f in resolved}
    assert counts["firebreak_incidents_resolved"] == 2  # each resolution is an event; the API counts incidents


async def test_the_declare_modal_declares_a_drill(bot: Bot) -> None:
    """Ticking the modal's Drill box declares a drill, kept out of the numbers."""
    await bot.command("declare")
    modal = bot.slack.calls_to("views.open")[0].args["view"]
    assert modal["blocks"][-1]["element"]["type"] == "checkboxes"
    state = {
        BlockId.TITLE: {"value": {"type": "plain_text_input", "value": "Game day"}},
        BlockId.SEVERITY: {"value": {"type": "static_select", "selected_option": {"value": "1"}}},
        BlockId.DRILL: {"value": {"type": "checkboxes", "selected_options": [{"value": "drill"}]}},
    }
    view = {"id": "V0DRILL", "type": "modal", "callback_id": CallbackId.DECLARE_MODAL, "state": {"values": state}}
    response = await bot.interact(
        {
            "type": "view_submission",
            "user": {"id": ALICE},
            "team": {"id": "T0TEAM"},
            "api_app_id": "A0APP",
            "view": view,
        }
    )
    assert response.status == 200
    events = (await bot.api("/api/incidents/1/timeline"))["events"]
    assert events[0]["text"] == "Declared drill SEV-1: Game day"
    assert (await bot.api("/api/metrics/incidents?window=7d"))["incidents"] == 0
