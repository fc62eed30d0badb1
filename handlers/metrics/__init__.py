"""Metrics: target clocks that tick on the card, update reminders, the numbers (`/incident stats`, the API,
the compliance report) and the Prometheus exposition. Builds on incidents; never imports another capability."""

from handlers.metrics import api, report
from handlers.metrics.capability import METRICS, Metrics
from handlers.metrics.clocks import CLOCKS_FAMILY, Clocks, EscalateHook, UpdateReminders
from handlers.metrics.figures import Query
from handlers.metrics.listeners import register
from handlers.metrics.recorder import Recorder

__all__ = [
    "CLOCKS_FAMILY",
    "METRICS",
    "Clocks",
    "EscalateHook",
    "Metrics",
    "Query",
    "Recorder",
    "UpdateReminders",
    "api",
    "register",
    "report",
]
