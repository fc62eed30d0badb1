"""Drill scenarios: what happens when, read from `drills/*.yaml`. Pure: data in, a typed scenario out.

A scenario names the alerts to fire and resolve at given offsets from its start, what people say (in the
sandbox, where the people are emulated), and a hint for the trainer. Offsets are durations (`30s`, `2m`).
"""

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from domain.durations import parse_duration
from domain.errors import InvalidValue, where_and_what


def _offset(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if value in (0, "0") or (isinstance(value, str) and value.strip().lower() in {"0s", "0m"}):
        return timedelta(0)
    try:
        return parse_duration(str(value))
    except InvalidValue as error:
        raise ValueError(str(error)) from None


Offset = Annotated[timedelta, BeforeValidator(_offset)]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: Offset


class FireAlert(_Step):
    """Send a captured Alertmanager notification (a file in `drills/alertmanager/`), as firing or resolved."""

    fire: str
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = Field(default_factory=dict)  # merged into every alert's labels


class Say(_Step):
    """A person of the scenario says something in a channel (`incident`: the drill's incident channel)."""

    say: str
    who: str = Field(alias="as")
    where: str = Field(default="incident", alias="in")


Step = FireAlert | Say


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=80)
    summary: str = ""
    hint: str = ""
    steps: list[Step] = Field(min_length=1, max_length=200)

    @property
    def timeline(self) -> list[Step]:
        """The steps in the order they happen (a stable sort: steps at the same offset keep their order)."""
        return sorted(self.steps, key=lambda step: step.at)

    @property
    def length(self) -> timedelta:
        return max(step.at for step in self.steps)


def load_scenario(data: object, source: str) -> Scenario:
    """A scenario from parsed YAML, or InvalidValue naming the file, the place and the problem."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        where, what = where_and_what(error.errors()[0])
        raise InvalidValue(f"{source}: {where + ': ' if where else ''}{what}") from None


DRILL_LABEL = "firebreak_drill"  # on every alert a drill fires: its incidents are drills


def drill_notification(notification: dict[str, object], run: str, step: FireAlert) -> dict[str, object]:
    """A captured notification re-addressed to one drill run: its own group key and fingerprints (so repeated
    runs are not deduplicated against each other), the drill label, the step's status and label overrides."""
    extra = {DRILL_LABEL: run, **step.labels}
    alerts = []
    for raw in _objects(notification.get("alerts")):
        labels = {**_strings(raw.get("labels")), **extra}
        alerts.append(raw | {"labels": labels, "status": step.status, "fingerprint": f"{raw.get('fingerprint')}-{run}"})
    common = {**_strings(notification.get("commonLabels")), **extra}
    groups = {key: common.get(key, value) for key, value in _strings(notification.get("groupLabels")).items()}
    group_key = ",".join(f'{key}="{value}"' for key, value in sorted(groups.items()))
    return notification | {
        "status": step.status,
        "alerts": alerts,
        "commonLabels": common,
        "groupLabels": groups,
        "groupKey": f'{{}}:{{{group_key},{DRILL_LABEL}="{run}"}}',
    }


def _objects(value: object) -> list[dict[str, object]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _strings(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
