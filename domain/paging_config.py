"""The on-call configuration (rotations, escalation policies, services), validated. Pure: data in, model out.

Every error names the file, the key path and what is wrong, e.g.
`oncall.yaml: rotations.primary.shift: \\`1y\\` is not a duration: ...`.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails

from domain.durations import parse_duration
from domain.errors import IncidentError, InvalidValue, where_and_what
from domain.escalation import Policy, Step, Target, TargetKind
from domain.rotation import Rotation
from domain.severity import Severity

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ConfigError(IncidentError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def _duration(value: str) -> timedelta:
    try:
        return parse_duration(str(value))
    except IncidentError as error:
        raise ValueError(str(error)) from None


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"`{value}` is not a timezone (use an IANA name such as Europe/Berlin)") from None
    return value


def _member(value: str) -> str:
    if not _USER_ID.match(value) and not _EMAIL.match(value):
        raise ValueError(f"`{value}` is neither a Slack user ID (U… or W…) nor an email address")
    return value


def _target(value: str) -> Target:
    try:
        target = Target.parse(value)
    except IncidentError as error:
        raise ValueError(str(error)) from None
    if target.kind is TargetKind.SERVICE:
        raise ValueError("a policy step targets rotation:<name> or user:<Slack ID or email>, not a service")
    if target.kind is TargetKind.USER:
        _member(target.name)
    return target


def _valid_duration(value: str) -> str:
    _duration(value)
    return value


def _valid_target(value: str) -> str:
    _target(value)
    return value


def _webhook(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError(f"`{value}` is not an http(s) URL")
    return value


def _channel(value: str) -> str:
    if not _CHANNEL_ID.match(value):
        raise ValueError(f"`{value}` is not a Slack channel ID (C… or G…)")
    return value


Duration = Annotated[str, AfterValidator(_valid_duration)]
Zone = Annotated[str, AfterValidator(_zone)]
Webhook = Annotated[str, AfterValidator(_webhook)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RotationConfig(_Strict):
    members: list[Annotated[str, AfterValidator(_member)]] = Field(min_length=1)
    shift: Duration
    handoff: datetime
    timezone: Zone | None = None
    notify_webhook: Webhook | None = None

    @field_validator("handoff")
    @classmethod
    def _naive(cls, value: datetime) -> datetime:
        if value.tzinfo is not None:
            raise ValueError("write the handoff as a local time without an offset, e.g. 2026-01-05T09:00")
        return value


class StepConfig(_Strict):
    targets: list[Annotated[str, AfterValidator(_valid_target)]] = Field(min_length=1)
    ack_timeout: Duration


class PolicyConfig(_Strict):
    steps: list[StepConfig] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=10)


class UserConfig(_Strict):
    notify_webhook: Webhook | None = None


class ServiceConfig(_Strict):
    escalation_policy: str


class OnCallConfig(_Strict):
    timezone: Zone = "UTC"
    rotations: dict[str, RotationConfig] = Field(default_factory=dict)
    escalation_policies: dict[str, PolicyConfig] = Field(default_factory=dict)
    services: dict[str, ServiceConfig] = Field(default_factory=dict)
    default_escalation_policy: str | None = None
    page_on_declare: list[Annotated[int, Field(ge=1, le=4)]] = Field(default_factory=list)
    users: dict[str, UserConfig] = Field(default_factory=dict)
    admins: list[Annotated[str, AfterValidator(_member)]] = Field(default_factory=list)
    max_override: Duration = "7d"
    oncall_channel: Annotated[str, AfterValidator(_channel)] | None = None


@dataclass(frozen=True)
class OnCall:
    """The validated configuration, in domain terms."""

    rotations: Mapping[str, Rotation]
    policies: Mapping[str, Policy]
    service_policies: Mapping[str, str]
    default_policy: str | None
    page_on_declare: frozenset[Severity]
    webhooks: Mapping[str, str] = field(default_factory=dict)  # "user:<id or email>" / "rotation:<name>" → URL
    admins: frozenset[str] = frozenset()  # Slack user IDs or emails who may set and cancel any override
    max_override: timedelta = timedelta(days=7)
    oncall_channel: str | None = None  # where overrides are announced (else INCIDENTS_CHANNEL)

    def rotation(self, name: str) -> Rotation:
        """The rotation called `name`; InvalidValue, naming the rotations there are, if there is none."""
        if name not in self.rotations:
            raise InvalidValue(f"There is no rotation `{name}`. Rotations: {', '.join(sorted(self.rotations))}.")
        return self.rotations[name]

    def policy_for(self, service: str | None) -> Policy | None:
        """The service's escalation policy, else the default one; None when neither is configured."""
        name = self.service_policies.get(service or "", self.default_policy)
        return self.policies.get(name) if name else None


def load_config(data: object, source: str) -> OnCall:
    """Validate parsed YAML, or raise ConfigError listing every problem as `source: key.path: message`."""
    data = data if data is not None else {}
    references = [f"{source}: {problem}" for problem in _reference_problems(data)]
    try:
        config = OnCallConfig.model_validate(data)
    except ValidationError as error:  # every problem at once: the fields', and the names that name nothing
        raise ConfigError([_describe(source, e) for e in error.errors()] + references) from None
    if references:
        raise ConfigError(references)
    return OnCall(
        rotations={name: _rotation(name, r, config.timezone) for name, r in config.rotations.items()},
        policies={name: _policy(name, p) for name, p in config.escalation_policies.items()},
        service_policies={name: s.escalation_policy for name, s in config.services.items()},
        default_policy=config.default_escalation_policy,
        page_on_declare=frozenset(Severity(n) for n in config.page_on_declare),
        webhooks={
            **{f"rotation:{name}": r.notify_webhook for name, r in config.rotations.items() if r.notify_webhook},
            **{f"user:{name}": u.notify_webhook for name, u in config.users.items() if u.notify_webhook},
        },
        admins=frozenset(config.admins),
        max_override=_duration(config.max_override),
        oncall_channel=config.oncall_channel,
    )


def _reference_problems(data: object) -> list[str]:
    """Names that name nothing (a rotation, a policy), read from the raw YAML so they are found even when
    other fields are wrong."""
    raw = data if isinstance(data, dict) else {}
    rotations, policies = _section(raw, "rotations"), _section(raw, "escalation_policies")
    problems = []
    for name, policy in policies.items():
        steps = policy.get("steps") if isinstance(policy, dict) else None
        for n, step in enumerate(steps if isinstance(steps, list) else []):
            targets = step.get("targets") if isinstance(step, dict) else None
            for target in targets if isinstance(targets, list) else []:
                kind, _, ref = str(target).partition(":")
                if kind == "rotation" and ref not in rotations:
                    problems.append(f"escalation_policies.{name}.steps.{n}.targets: no rotation `{ref}`")
    for name, service in _section(raw, "services").items():
        policy_name = service.get("escalation_policy") if isinstance(service, dict) else None
        if isinstance(policy_name, str) and policy_name not in policies:  # other types: pydantic says so
            problems.append(f"services.{name}.escalation_policy: no policy `{policy_name}`")
    default = raw.get("default_escalation_policy")
    if isinstance(default, str) and default not in policies:
        problems.append(f"default_escalation_policy: no policy `{default}`")
    return problems


def _section(raw: dict[object, object], name: str) -> dict[object, object]:
    section = raw.get(name)
    return section if isinstance(section, dict) else {}


def _rotation(name: str, config: RotationConfig, zone: str) -> Rotation:
    members = tuple(config.members)
    return Rotation(name, members, _duration(config.shift), config.handoff, ZoneInfo(config.timezone or zone))


def _policy(name: str, config: PolicyConfig) -> Policy:
    steps = tuple(Step(tuple(_target(t) for t in s.targets), _duration(s.ack_timeout)) for s in config.steps)
    return Policy(name, steps, config.repeat)


def _describe(source: str, error: ErrorDetails) -> str:
    path, message = where_and_what(error)
    return f"{source}: {path}: {message}" if path else f"{source}: {message}"
