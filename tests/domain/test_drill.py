"""Drill scenarios: the shipped ones load, steps come in time order, and mistakes name their place."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from domain import InvalidValue
from domain.drill import FireAlert, Say, drill_notification, load_scenario

DRILLS = Path(__file__).resolve().parents[2] / "drills"


@pytest.mark.parametrize("path", sorted(DRILLS.glob("*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_scenarios_load_and_fire_captured_payloads(path: Path) -> None:
    """Every scenario in drills/ loads and every alert it fires is a captured payload in drills/alertmanager."""
    scenario = load_scenario(yaml.safe_load(path.read_text()), path.name)
    fired = [step.fire for step in scenario.steps if isinstance(step, FireAlert)]
    assert fired
    assert all((DRILLS / "alertmanager" / name).is_file() for name in fired)
    assert scenario.hint


def test_steps_come_in_time_order() -> None:
    """The timeline sorts by offset and keeps the written order of steps at the same offset."""
    scenario = load_scenario(
        {
            "name": "Order",
            "steps": [
                {"at": "2m", "fire": "b.json"},
                {"at": "0", "say": "first", "as": "casey"},
                {"at": "0", "say": "second", "as": "priya", "in": "alerts"},
            ],
        },
        "order.yaml",
    )
    timeline = scenario.timeline
    assert [step.at for step in timeline] == [timedelta(0), timedelta(0), timedelta(minutes=2)]
    assert [(s.say, s.who, s.where) for s in timeline if isinstance(s, Say)] == [
        ("first", "casey", "incident"),
        ("second", "priya", "alerts"),
    ]
    assert scenario.length == timedelta(minutes=2)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": "x", "steps": []}, "steps: List should have at least 1 item"),
        ({"name": "x", "steps": [{"at": "soon", "fire": "a.json"}]}, "`soon` is not a duration"),
        ({"name": "x", "steps": [{"at": "1m", "fire": "a.json", "status": "gone"}]}, "steps.0.FireAlert.status"),
        ({"steps": [{"at": "1m", "fire": "a.json"}]}, "name: Field required"),
    ],
)
def test_mistakes_name_the_file_and_the_place(data: object, expected: str) -> None:
    """A bad scenario is refused with the file, where the problem is and what it is."""
    with pytest.raises(InvalidValue) as raised:
        load_scenario(data, "bad.yaml")
    assert str(raised.value).startswith("bad.yaml: ")
    assert expected in str(raised.value)


def test_a_drill_notification_is_its_own_group_with_the_drill_label() -> None:
    """Each run re-addresses the captured payload: its own group key and fingerprints, the drill label, the
    step's status and labels; the rest of the payload is as Alertmanager sent it."""
    captured = json.loads((DRILLS / "alertmanager" / "03-firing-group-of-3.json").read_text())
    step = FireAlert(at=timedelta(0), fire="03-firing-group-of-3.json", status="resolved", labels={"alertname": "Fill"})
    sent = drill_notification(captured, "run1", step)
    assert sent["groupKey"] == '{}:{alertname="Fill",firebreak_drill="run1"}'
    assert sent["status"] == "resolved"
    assert sent["groupLabels"] == {"alertname": "Fill"}
    alerts = sent["alerts"]
    assert isinstance(alerts, list)
    assert {a["status"] for a in alerts} == {"resolved"}
    assert [a["fingerprint"] for a in alerts] == [f"{a['fingerprint']}-run1" for a in captured["alerts"]]
    assert all(a["labels"]["firebreak_drill"] == "run1" and a["labels"]["alertname"] == "Fill" for a in alerts)
    assert sent["commonAnnotations"] == captured["commonAnnotations"]
    other = drill_notification(captured, "run2", step)
    assert other["groupKey"] != sent["groupKey"]
