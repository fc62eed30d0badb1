"""The bad-input corpus: malformed and hostile requests for every route and every subcommand, generated.

Each `Case` is one HTTP request. `slash` cases are signed `/incident` commands whose answer must be an ephemeral
warning; every other case must get a 4xx (or, for an interaction Slack expects acknowledged, a 200 that changes
nothing). Nothing in the corpus may change what is stored.
"""

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import product
from typing import Any
from urllib.parse import quote, urlencode

from handlers.slack import ActionId, BlockId, CallbackId
from tests.bot.harness import ALERTMANAGER_TOKEN, SIGNING_SECRET
from tests.fixtures import ALERTMANAGER as FIXTURES

FORM = "application/x-www-form-urlencoded"
CONTROL = ["\x00", "\x07bell", "\x1b[31mred", "a\x7fb"]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    slash: bool = False  # a signed slash command: the answer must be an ephemeral warning
    acknowledged: bool = False  # an interaction Slack expects a 200 for: 200 allowed, nothing may change


def signed(
    body: bytes, content_type: str = FORM, timestamp: str | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = timestamp or str(int(time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def _command(text: str, channel: str, n: int, response_url: str = "http://127.0.0.1:9/") -> bytes:
    form = {
        "command": "/incident",
        "text": text,
        "user_id": "U0EVE",
        "channel_id": channel,
        "trigger_id": f"corpus-{n}",
        "response_url": response_url,
        "team_id": "T0TEAM",
    }
    return urlencode(form).encode()


def _bad_arguments() -> list[str]:
    """Every subcommand with arguments it refuses."""
    mention, huge = "<@U0BOB>", "9" * 30
    cases = [
        *[f"sev {v}" for v in ["", "0", "5", "-1", "²", huge, "1 2", "sev9", "one"]],
        *[f"status {v}" for v in ["", "fixed", "a b", "RESOLVEDX", "declared now"]],
        *[f"lead {v}" for v in ["", "bob", "<@bob>", "<!channel>", "<#C0GENERAL>", f"{mention} x", "@U0BOB"]],
        *[f"role {v}" for v in ["", "scribe", "scribe bob", f"a b {mention}", "scribe <@u0bob>", f"{mention} scribe"]],
        *["note", "update", "note    ", "update \t", "ack now", "ack ack", "reopen please", "reopen"],
        *[f"page {v}" for v in ["", "bob", "rotation:nope", "service:nope", "user:x", "a b", ":", "rotation:", huge]],
        *[f"oncall {v}" for v in ["nope", "a b", "override", "override primary", "overrides a b", "overrides nope"]],
        *[f"oncall override primary {mention} {v}" for v in ["1y", "0m", "99999999w", "1e9w", huge + "m", "8d"]],
        *[f"oncall override primary {mention} until {v}" for v in ["tea", "99:99", "2020-01-01T00:00", "25:00"]],
        *[f"oncall override {v}" for v in ["nope <@U0BOB> 1h", "primary bob 1h", "primary <@U0BOB>", "a b c d e"]],
        *[f"oncall override cancel {v}" for v in ["", "x", huge, "1 2", "-1", "77"]],
        *[f"oncall override primary {mention} 1h"],  # U0EVE is no member of primary, nor an admin
        *["runbook a b", "runbook nope", "runbook ../../etc/passwd", "timeline now", "list all", "help me"],
        *[
            f"{v}"
            for v in [
                "frobnicate",
                "DECLAREX",
                "\uff44\uff45\uff43\uff4c\uff41\uff52\uff45 x",
                "#",
                "#abc ack",
                "#-1 ack",
                "#0x1 ack",
                "#² ack",
            ]
        ],
        *[f"#{huge} ack", "#1 list", "#1 help", "#1 declare x", "#1 runbook", "#1 oncall", "#1 #2 ack"],
    ]
    return cases + [f"{verb} {bad}" for verb, bad in product(["declare", "note", "resolve", "update"], CONTROL)]


def slash_cases(incident_channel: str, response_url: str) -> Iterator[Case]:
    """Refused subcommands, typed in the incident channel and in a channel that is not one."""
    for n, (text, channel) in enumerate(product(_bad_arguments(), [incident_channel, "C0GENERAL"])):
        body = _command(text, channel, n, response_url)
        yield Case(f"slash {text!r} in {channel}", "POST", "/slack/events", body, signed(body), slash=True)


def signature_cases() -> Iterator[Case]:
    """Requests to /slack/events that are not (validly) signed: 401 whatever they carry."""
    body = _command("declare Forged sev1", "C0GENERAL", 0)
    now = int(time.time())
    variants: dict[str, dict[str, str]] = {
        "unsigned": {"Content-Type": FORM},
        "wrong secret": signed(body, secret="not-the-secret"),
        "stale": signed(body, timestamp=str(now - 400)),
        "future": signed(body, timestamp=str(now + 400)),
        "timestamp not a number": signed(body, timestamp="abc"),
        "timestamp huge": signed(body, timestamp="9" * 30),
        "signature not hex": {**signed(body), "X-Slack-Signature": "v0=zz"},
        "signature non-ascii": {**signed(body), "X-Slack-Signature": "v0=é"},
        "signature v1": {**signed(body), "X-Slack-Signature": "v1=" + "0" * 64},
        "signature empty": {**signed(body), "X-Slack-Signature": ""},
    }
    for name, headers in variants.items():
        yield Case(f"events {name}", "POST", "/slack/events", body, headers)
    tampered = body.replace(b"Forged", b"Forgex")
    yield Case("events tampered body", "POST", "/slack/events", tampered, signed(body))


def _interaction(payload: Any) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


def _click(action_id: str, value: Any, response_url: str, selected: bool = False) -> dict[str, Any]:
    action: dict[str, Any] = {"action_id": action_id, "block_id": "b", "type": "button", "value": value}
    if selected:
        action = {"action_id": action_id, "block_id": "b", "selected_option": {"value": value}}
    return {
        "type": "block_actions",
        "user": {"id": "U0EVE"},
        "team": {"id": "T0TEAM"},
        "api_app_id": "A0APP",
        "trigger_id": "t",
        "response_url": response_url,
        "actions": [action],
    }


def interaction_cases(response_url: str) -> Iterator[Case]:
    """Signed interactions: broken payloads, unknown actions and views, our buttons with foreign values."""
    broken = ["{not json", "[]", "null", "1", '"s"', "{}", json.dumps({"type": "block_actions"})]
    broken += [json.dumps({"type": t, "user": {"id": "U0EVE"}}) for t in ["shortcut", "message_action", "x"]]
    for n, payload in enumerate(broken):
        body = _interaction(payload)
        yield Case(f"interaction broken {n}", "POST", "/slack/events", body, signed(body))
    for n, action_id in enumerate(["unknown", "", "x" * 300, "incident_acknowledgeX", "é"]):
        body = _interaction(_click(action_id, "v", response_url))
        yield Case(f"unknown action {n}", "POST", "/slack/events", body, signed(body), acknowledged=True)
    values = ["not-json", "{}", '{"number": "x"}', '{"number": 99999999999}', '{"number": -1}', '{"number": 0}']
    values += ['{"number": 1e400}', "null", '{"number": 77}', '{"group_key": 5}', "x|y", '{"number": 1}|nope']
    for action_id, value in product(
        [ActionId.ACKNOWLEDGE, ActionId.CHANGE_STATUS, ActionId.DECLARE_FROM_ALERTS], values
    ):
        selected = action_id is ActionId.CHANGE_STATUS
        body = _interaction(_click(action_id, value, response_url, selected))
        yield Case(f"click {action_id} {value!r}", "POST", "/slack/events", body, signed(body), acknowledged=True)
    for n, view in enumerate(_views()):
        body = _interaction({"type": "view_submission", "user": {"id": "U0EVE"}, "view": view})
        yield Case(f"view {n}", "POST", "/slack/events", body, signed(body), acknowledged=True)


def _views() -> list[dict[str, Any]]:
    def state(title: str, severity: str = "2") -> dict[str, Any]:
        values = {
            BlockId.TITLE: {"value": {"type": "plain_text_input", "value": title}},
            BlockId.SEVERITY: {"value": {"type": "static_select", "selected_option": {"value": severity}}},
        }
        return {"values": values}

    declare = {"id": "V0CORPUS", "callback_id": CallbackId.DECLARE_MODAL}
    return [
        {"id": "V1", "callback_id": "unknown_view", "state": {"values": {}}},
        {"id": "V2", "callback_id": "", "state": {"values": {}}},
        declare | {"state": state("")},
        declare | {"state": state("   ")},
        declare | {"state": state("t\x00itle")},
        declare | {"state": state("bell\x07")},
        declare | {"state": state("ok", "9")},
        declare | {"state": state("ok", "sev0")},
        declare | {"state": {"values": {}}},
        declare | {"state": "nope"},
    ]


def event_cases() -> Iterator[Case]:
    """Signed Events API callbacks that are unknown, incomplete, or about nothing we track."""
    events: list[Any] = [
        {"type": "unknown_event"},
        {"type": "reaction_added"},
        {"type": "reaction_added", "user": "U0EVE", "reaction": "pushpin", "item": {"type": "message"}},
        {"type": "reaction_added", "user": "U0EVE", "reaction": "pushpin", "item": "x"},
        {"type": "pin_added", "user": "U0EVE"},
        {"type": "pin_added", "user": "U0EVE", "channel_id": "C0GENERAL", "item": {"type": "message"}},
        {"type": "pin_added", "user": "U0EVE", "channel_id": "C0NOPE", "item": {"type": "message", "message": {}}},
        "not an object",
    ]
    for n, event in enumerate(events):
        body = json.dumps({"type": "event_callback", "event_id": f"EvCorpus{n}", "event": event}).encode()
        yield Case(f"event {n}", "POST", "/slack/events", body, signed(body, "application/json"), acknowledged=True)
    for n, raw in enumerate([b"{", b"[]", b"\xff\xfe", b'{"type": 5}', b"\x00" * 8]):
        yield Case(f"event body {n}", "POST", "/slack/events", raw, signed(raw, "application/json"), acknowledged=True)
    latin = "text=caf\xe9".encode("latin-1")
    yield Case("form in latin-1", "POST", "/slack/events", latin, signed(latin, FORM + "; charset=latin-1"))
    yield Case("form bad utf-8", "POST", "/slack/events", b"text=\xff\xfe", signed(b"text=\xff\xfe"))


def api_cases() -> Iterator[Case]:
    numbers = [
        "abc",
        "-1",
        "1.0",
        "%00",
        "%C2%B2",
        "9" * 20,
        "0x1",
        "%201",
        "1%20",
        "%EF%BC%91",
        "1e3",
        "%FF",
        "\uff11",
    ]
    for number, suffix in product(numbers, ["", "/timeline"]):
        yield Case(f"api number {number}{suffix}", "GET", f"/api/incidents/{quote(number, safe='%')}{suffix}")
    for status in ["x", "OPEN", "", "all%00", "%FF", "open%20"]:
        yield Case(f"api status {status}", "GET", f"/api/incidents?status={status}")
    for method, path in product(["POST", "PUT", "DELETE", "PATCH"], ["/api/incidents", "/api/incidents/1"]):
        yield Case(f"api {method} {path}", method, path, b"{}")
    for path in ["/api/nope", "/api/incidents/1/nope", "/nope", "/healthz/x", "/.env", "/slack/events/x"]:
        yield Case(f"unknown {path}", "GET", path)
    for method, path in product(["POST", "DELETE"], ["/healthz", "/readyz"]):
        yield Case(f"{method} {path}", method, path)
    yield Case("GET slack events", "GET", "/slack/events")


def alert_cases() -> Iterator[Case]:
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {ALERTMANAGER_TOKEN}"}
    good: dict[str, Any] = json.loads((FIXTURES / "01-firing-single-critical.json").read_text())
    bodies: list[bytes] = [b"", b"null", b"[]", b"1", b'"s"', b"{}", b"{", b"\xff\xfe{}", b"{}" + b"\x00"]
    broken: list[dict[str, Any]] = [
        good | {"version": "3"},
        good | {"version": 4},
        good | {"alerts": []},
        good | {"alerts": "x"},
        good | {"alerts": [{}]},
        good | {"groupKey": ""},
        good | {"groupKey": 5},
        good | {"status": "weird"},
        good | {"truncatedAlerts": -1},
        good | {"commonLabels": {"a": 5}},
        good | {"commonAnnotations": {"summary": "nul \u0000 here"}},
        good | {"alerts": [good["alerts"][0] | {"startsAt": "yesterday"}]},
        good | {"alerts": [good["alerts"][0] | {"fingerprint": None}]},
        good | {"alerts": [good["alerts"][0] | {"labels": "x"}]},
        {k: v for k, v in good.items() if k != "groupKey"},
        {k: v for k, v in good.items() if k != "version"},
    ]
    bodies += [json.dumps(b).encode() for b in broken]
    for n, body in enumerate(bodies):
        yield Case(f"alert body {n}", "POST", "/webhooks/alertmanager", body, auth)
    valid = json.dumps(good).encode()
    for name, header in [
        ("none", ""),
        ("wrong", "Bearer wrong"),
        ("basic", "Basic dTp3cm9uZw=="),
        ("junk", "Basic %%"),
    ]:
        headers = {"Content-Type": "application/json"} | ({"Authorization": header} if header else {})
        yield Case(f"alert auth {name}", "POST", "/webhooks/alertmanager", valid, headers)
    yield Case("alert GET", "GET", "/webhooks/alertmanager")


def ack_cases() -> Iterator[Case]:
    tokens = ["", "x", "é", "%00", "0.0.1." + "0" * 64, "00.0.9999999999." + "a" * 64, "ü" * 300, "1.1.1.1.1"]
    for token, method in product(tokens, ["GET", "POST"]):
        yield Case(
            f"ack {method} {token[:10]!r}", method, f"/api/pages/1:declared/ack?user=U0PRIMARY&token={quote(token)}"
        )
    for page in ["%00", "x" * 500, "..%2F..", "%C2%B2"]:
        yield Case(f"ack page {page[:10]}", "POST", f"/api/pages/{page}/ack?user=U0X&token=0.0.1.{'a' * 64}")


def corpus(incident_channel: str, response_url: str) -> list[Case]:
    return [
        *slash_cases(incident_channel, response_url),
        *signature_cases(),
        *interaction_cases(response_url),
        *event_cases(),
        *api_cases(),
        *alert_cases(),
        *ack_cases(),
    ]
