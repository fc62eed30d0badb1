"""Escalation policies: who is paged at each step, how long they have to acknowledge, how often it repeats.

Pure: `start` and `advance` say which step comes next; the shell pages people and keeps the deadlines.
"""

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from domain.errors import InvalidValue


class TargetKind(StrEnum):
    USER = "user"
    ROTATION = "rotation"
    SERVICE = "service"


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    name: str

    @classmethod
    def parse(cls, text: str) -> "Target":
        """`user:U123`, `rotation:platform-primary` or `service:checkout`; a bare `<@U123>` mention is a user."""
        token = text.strip()
        if token.startswith("<@") and token.endswith(">"):
            return cls(TargetKind.USER, token[2:-1].split("|", 1)[0])
        kind, sep, name = token.partition(":")
        if not sep or not name or kind not in TargetKind.__members__.values():
            raise InvalidValue(f"`{text}` is not a page target: use @user, rotation:<name> or service:<name>.")
        return cls(TargetKind(kind), name)

    def __str__(self) -> str:
        return f"<@{self.name}>" if self.kind is TargetKind.USER else f"{self.kind.value}:{self.name}"


@dataclass(frozen=True)
class Step:
    targets: tuple[Target, ...]
    ack_timeout: timedelta


@dataclass(frozen=True)
class Policy:
    name: str
    steps: tuple[Step, ...]
    repeat: int = 0  # run the whole policy again this many times


@dataclass(frozen=True)
class Position:
    """Where an escalation is: the step being paged, in which pass through the policy (0 = the first)."""

    step: int = 0
    round: int = 0


def advance(policy: Policy, position: Position) -> Position | None:
    """The step after `position`, wrapping to the next round while repeats remain; None when exhausted."""
    if position.step + 1 < len(policy.steps):
        return Position(position.step + 1, position.round)
    if position.round < policy.repeat:
        return Position(0, position.round + 1)
    return None
