"""What paging keeps in Redis: page ids, and the one typed body of every timer the pager arms, serialised here."""

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel

from domain.escalation import Position

LEASE = timedelta(seconds=30)  # how long a process holds a claimed timer before another may take it


class PageId:
    """Page ids are natural keys: one page per incident declaration, one per `page` command."""

    @staticmethod
    def declared(number: int) -> str:
        return f"{number}:declared"

    @staticmethod
    def manual(number: int, trigger_id: str) -> str:
        return f"{number}:manual:{trigger_id}"


class TimerKind(StrEnum):
    PAGE = "page"  # page a step's people now
    DEADLINE = "deadline"  # a step's acknowledge timeout ran out
    HANDOFF = "handoff"  # a rotation's shift changes now


class TimerBody(BaseModel):
    kind: TimerKind
    step: int = 0
    round: int = 0
    rotation: str = ""
    lane: str = ""  # a page's escalation policy: policies take turns when timers are claimed (`TimerStore.claim`)

    @classmethod
    def at(cls, kind: TimerKind, position: Position, policy: str) -> "TimerBody":
        return cls(kind=kind, step=position.step, round=position.round, lane=policy)

    @classmethod
    def handoff(cls, rotation: str) -> "TimerBody":
        return cls(kind=TimerKind.HANDOFF, rotation=rotation)

    @classmethod
    def parse(cls, body: dict[str, object]) -> "TimerBody":
        return cls.model_validate(body)

    @property
    def position(self) -> Position:
        return Position(self.step, self.round)

    def dump(self) -> dict[str, object]:
        return self.model_dump(mode="json")
