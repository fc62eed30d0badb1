"""Escalation steps and targets."""

from datetime import timedelta

import pytest

from domain import InvalidValue
from domain.escalation import Policy, Position, Step, Target, TargetKind, advance

ONE = Step((Target(TargetKind.ROTATION, "primary"),), timedelta(minutes=5))
TWO = Step((Target(TargetKind.USER, "U9"),), timedelta(minutes=10))


@pytest.mark.parametrize(
    ("steps", "repeat", "position", "expected"),
    [
        ((ONE, TWO), 0, Position(0, 0), Position(1, 0)),
        ((ONE, TWO), 0, Position(1, 0), None),
        ((ONE, TWO), 2, Position(1, 0), Position(0, 1)),
        ((ONE, TWO), 2, Position(1, 1), Position(0, 2)),
        ((ONE, TWO), 2, Position(1, 2), None),
        ((ONE,), 1, Position(0, 0), Position(0, 1)),
        ((ONE,), 0, Position(0, 0), None),
    ],
)
def test_advance(steps: tuple[Step, ...], repeat: int, position: Position, expected: Position | None) -> None:
    """Steps run in order, the policy repeats `repeat` more times, then it is exhausted."""
    assert advance(Policy("p", steps, repeat), position) == expected


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("user:U123", Target(TargetKind.USER, "U123")),
        ("<@U123|bob>", Target(TargetKind.USER, "U123")),
        ("rotation:platform-primary", Target(TargetKind.ROTATION, "platform-primary")),
        ("service:checkout", Target(TargetKind.SERVICE, "checkout")),
    ],
)
def test_target_parse(text: str, target: Target) -> None:
    """Targets are written as mentions or kind:name."""
    assert Target.parse(text) == target


@pytest.mark.parametrize("text", ["bob", "team:x", "rotation:", "user"])
def test_target_parse_refuses(text: str) -> None:
    """Anything else is refused with the accepted forms."""
    with pytest.raises(InvalidValue, match="is not a page target"):
        Target.parse(text)
