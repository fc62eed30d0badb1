"""Playing a drill: a scenario's alerts go to the bot's own Alertmanager webhook at their offsets, and (in
the sandbox) its people say their lines. The alerts carry the drill label, so their incidents are drills.
"""

import asyncio
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import structlog
import yaml

from domain.drill import FireAlert, Say, Scenario, drill_notification, load_scenario

log = structlog.get_logger()

DRILLS = Path(__file__).resolve().parents[1] / "drills"

SendAlert = Callable[[bytes], Awaitable[int]]  # POST a notification to the webhook; the HTTP status
SayLine = Callable[[Say], Awaitable[None]]  # a person of the scenario says a line (sandbox only)
Sleep = Callable[[float], Awaitable[None]]


def scenarios(folder: Path = DRILLS) -> dict[str, Scenario]:
    """The scenarios in `folder`, by file stem (`checkout-outage`)."""
    return {
        path.stem: load_scenario(yaml.safe_load(path.read_text()), path.name) for path in sorted(folder.glob("*.yaml"))
    }


@dataclass
class Drill:
    scenario: Scenario
    send_alert: SendAlert
    say: SayLine | None = None  # None against a real workspace: the people there are real
    sleep: Sleep = asyncio.sleep
    run: str = ""
    payloads: Path = DRILLS / "alertmanager"

    def __post_init__(self) -> None:
        self.run = self.run or secrets.token_hex(4)

    async def play(self) -> list[str]:
        """Carry out every step at its offset; returns what was done, a line a step."""
        done: list[str] = []
        elapsed = 0.0
        for step in self.scenario.timeline:
            await self.sleep(max(0.0, step.at.total_seconds() - elapsed))
            elapsed = step.at.total_seconds()
            done.append(await self._step(step))
        log.info("drill_played", drill=self.scenario.name, run=self.run, steps=len(done))
        return done

    async def _step(self, step: FireAlert | Say) -> str:
        if isinstance(step, FireAlert):
            captured = json.loads((self.payloads / step.fire).read_bytes())
            status = await self.send_alert(json.dumps(drill_notification(captured, self.run, step)).encode())
            log.info("drill_alert_sent", drill=self.scenario.name, alert=step.fire, status=step.status, http=status)
            return f"{step.status} {step.fire}: HTTP {status}"
        if self.say is None:
            return f"skipped {step.who}'s line (a real workspace)"
        await self.say(step)
        return f"{step.who} in {step.where}: {step.say}"


async def play_against(url: str, name: str, token: str | None, folder: Path = DRILLS) -> int:
    """`firebreak drill <name>`: play a scenario against a running bot at `url` (its own Alertmanager
    webhook); the people's lines are skipped, since the people of a real workspace are real. Exit code."""
    found = scenarios(folder)
    if name not in found:
        print(f"firebreak: there is no drill {name!r}; drills: {', '.join(found) or 'none'}", file=sys.stderr)
        return 2
    scenario = found[name]
    headers = {"Content-Type": "application/json", "User-Agent": "Alertmanager/0.25.0 (firebreak drill)"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as http:

        async def send_alert(body: bytes) -> int:
            async with http.post(url.rstrip("/") + "/webhooks/alertmanager", data=body, headers=headers) as response:
                return response.status

        print(f"Drill: {scenario.name} ({scenario.length} long)\n{scenario.hint}", flush=True)
        for line in await Drill(scenario, send_alert).play():
            print(f"  {line}", flush=True)
    return 0
