"""Alertmanager intake: the webhook view, the worker that drains it, the flows that route alert groups to
incidents, and the alert messages."""

from handlers.alerts import flows, messages, webhook
from handlers.alerts.listeners import register
from handlers.alerts.worker import AlertWorker

__all__ = ["AlertWorker", "flows", "messages", "register", "webhook"]
