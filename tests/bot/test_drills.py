"""Playing a drill: each step at its offset, alerts re-addressed to the run, lines said only where people
are emulated."""

import json
from datetime import timedelta

from bot.drills import DRILLS, Drill, scenarios
from domain.drill import DRILL_LABEL, Say


async def test_a_drill_plays_its_steps_at_their_offsets() -> None:
    """The checkout drill fires, lets people speak, and resolves, waiting out each offset in turn."""
    scenario = scenarios()["checkout-outage"]
    sent: list[dict[str, object]] = []
    said: list[Say] = []
    slept: list[float] = []

    async def send_alert(body: bytes) -> int:
        sent.append(json.loads(body))
        return 200

    async def say(line: Say) -> None:
        said.append(line)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    done = await Drill(scenario, send_alert, say=say, sleep=sleep, run="r1").play()
    assert slept == [0, 20, 20, 140]
    assert [n["status"] for n in sent] == ["firing", "resolved"]
    assert all(f'{DRILL_LABEL}="r1"' in str(n["groupKey"]) for n in sent)
    assert [(line.who, line.where) for line in said] == [("morgan", "incidents"), ("priya", "incident")]
    assert done[0] == "firing 01-firing-single-critical.json: HTTP 200"


async def test_against_a_real_workspace_the_lines_are_skipped() -> None:
    """Without emulated people, a drill only sends its alerts."""
    sent: list[bytes] = []

    async def send_alert(body: bytes) -> int:
        sent.append(body)
        return 202

    async def no_wait(seconds: float) -> None:
        return None

    done = await Drill(scenarios()["slow-disk-fill"], send_alert, sleep=no_wait).play()
    assert len(sent) == 2
    assert done[1] == "skipped morgan's line (a real workspace)"
    assert (DRILLS / "alertmanager" / "03-firing-group-of-3.json").is_file()
    assert timedelta(minutes=10) == scenarios()["slow-disk-fill"].length
