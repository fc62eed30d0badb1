"""Prometheus instruments, registered on a `CollectorRegistry` that `bot` builds and passes in (no globals).

Counters and histograms count what this process did, so Prometheus sums them over replicas. The open-incident
gauge is read from SQL at scrape time, so every replica reports the same value: aggregate it with `max`.
Label values are bounded: severities, service names, route templates, Slack method names and error codes.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from domain import EntryKind, Incident, Severity
from domain.metrics import ClockKind

ACK_BUCKETS = (60, 300, 900, 1800, 3600, 14400, 86400, 259200)  # the response targets: 15 min, 1 h, 4 h, 1 d
RESOLVE_BUCKETS = (900, 3600, 14400, 86400, 259200, 604800, 1209600, 2419200)  # 4 h, 24 h, 1 w, 2 w
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# queued; every alert state in it already seen; refused as malformed (400); not stored, Redis down (503)
ALERT_OUTCOMES = ("admitted", "duplicate", "malformed", "unavailable")
_PAGING_KINDS = {EntryKind.PAGED: "pages", EntryKind.ESCALATED: "escalations", EntryKind.PAGE_FAILED: "failures"}


class Recorder:
    """Every instrument the bot exports; one per process, on the registry it is given."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        lifecycle = ["severity", "service"]
        self.declared = Counter("firebreak_incidents_declared", "Incidents declared.", lifecycle, registry=registry)
        self.acknowledged = Counter(
            "firebreak_incidents_acknowledged", "Incidents acknowledged.", lifecycle, registry=registry
        )
        self.resolved = Counter("firebreak_incidents_resolved", "Incidents resolved.", lifecycle, registry=registry)
        self.open = Gauge(
            "firebreak_incidents_open", "Open incidents, from SQL (same on every replica: use max).", ["severity"],
            registry=registry,
        )  # fmt: skip
        self.ack_duration = Histogram(
            "firebreak_incident_acknowledge_duration_seconds", "Declared to acknowledged.", ["severity"],
            buckets=ACK_BUCKETS, registry=registry,
        )  # fmt: skip
        self.resolve_duration = Histogram(
            "firebreak_incident_resolve_duration_seconds", "Declared to resolved.", ["severity"],
            buckets=RESOLVE_BUCKETS, registry=registry,
        )  # fmt: skip
        self.breaches = Counter(
            "firebreak_target_breaches", "Response and resolution targets breached.", ["target", "severity"],
            registry=registry,
        )  # fmt: skip
        self.pages = Counter("firebreak_pages", "People paged (one per person and step).", registry=registry)
        self.escalations = Counter("firebreak_escalations", "Escalations to a next step.", registry=registry)
        self.page_failures = Counter("firebreak_page_failures", "Page DMs Slack refused.", registry=registry)
        self.dead_letters = Counter(
            "firebreak_alerts_dead_lettered", "Alert notifications given up on.", registry=registry
        )
        self.alert_worker_active = Gauge(
            "firebreak_alert_worker_active",
            "1 while this process's alert worker is the active one (one at a time: 0 on standbys and web processes).",
            registry=registry,
        )
        self.alert_notifications = Counter(
            "firebreak_alert_notifications", "Alertmanager notifications received, by outcome.", ["outcome"],
            registry=registry,
        )  # fmt: skip
        self._alert_outcomes = {outcome: self.alert_notifications.labels(outcome) for outcome in ALERT_OUTCOMES}
        self.http_requests = Counter(
            "firebreak_http_requests", "HTTP requests served.", ["route", "method", "status"], registry=registry
        )
        self.http_duration = Histogram(
            "firebreak_http_request_duration_seconds", "HTTP request latency.", ["route", "method"],
            buckets=HTTP_BUCKETS, registry=registry,
        )  # fmt: skip
        self.slack_calls = Counter("firebreak_slack_api_calls", "Slack Web API calls.", ["method"], registry=registry)
        self.slack_errors = Counter(
            "firebreak_slack_api_errors", "Slack Web API calls that failed.", ["method", "error"], registry=registry
        )

    def incident_declared(self, incident: Incident) -> None:
        if not incident.drill:
            self.declared.labels(*_labels(incident)).inc()

    def incident_changed(self, before: Incident, after: Incident) -> None:
        """Count a first acknowledgement and a resolution, with their durations (drills count nowhere)."""
        if after.drill:
            return
        severity = after.severity.label
        if before.acknowledged_at is None and after.acknowledged_at is not None:
            self.acknowledged.labels(*_labels(after)).inc()
            self.ack_duration.labels(severity).observe((after.acknowledged_at - after.declared_at).total_seconds())
        if before.resolved_at is None and after.resolved_at is not None:
            self.resolved.labels(*_labels(after)).inc()
            self.resolve_duration.labels(severity).observe((after.resolved_at - after.declared_at).total_seconds())

    def breached(self, kind: ClockKind, severity: Severity) -> None:
        self.breaches.labels(kind.value, severity.label).inc()

    def timeline_entry(self, kind: EntryKind) -> None:
        """Paging facts arrive as timeline entries (paging and metrics never import each other)."""
        which = _PAGING_KINDS.get(kind)
        if which is not None:
            {"pages": self.pages, "escalations": self.escalations, "failures": self.page_failures}[which].inc()

    def slack_called(self, method: str, error: str | None) -> None:
        self.slack_calls.labels(method).inc()
        if error is not None:
            self.slack_errors.labels(method, error).inc()

    def alert_notification(self, outcome: str) -> None:
        """One notification at the webhook: `ALERT_OUTCOMES` (each series exists from the start, at 0)."""
        self._alert_outcomes[outcome].inc()

    def http_served(self, route: str, method: str, status: int, seconds: float) -> None:
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route, method).observe(seconds)

    def set_open(self, by_severity: dict[int, int]) -> None:
        for severity in Severity:
            self.open.labels(severity.label).set(by_severity.get(int(severity), 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _labels(incident: Incident) -> tuple[str, str]:
    return incident.severity.label, incident.service or ""
