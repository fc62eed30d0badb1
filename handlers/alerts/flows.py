"""Alert groups follow incidents: declare, reopen or update them, or post below-threshold groups once.

`process` applies one admitted notification. It stores everything first (incident, timeline, group state),
then hands the Slack work to the outbox. Every step is idempotent, so a redelivered notification (a worker
that died mid-way) changes nothing twice.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import replace

import structlog
from structlog.contextvars import bound_contextvars

from domain import Incident, InvalidTransition, Reopen, Resolve, TimelineEntry
from domain.alerts import (
    Alert,
    AlertStatus,
    GroupState,
    Notification,
    Route,
    alert_entries,
    new_alerts,
    record_entries,
    route,
)
from domain.drill import is_drill_group
from domain.runbooks import slack_text
from domain.timeline import EntryKind
from handlers.alerts import messages
from handlers.incidents import flows, timeline
from handlers.incidents.effects import card, post
from handlers.incidents.messages import short_title
from handlers.services import Services
from handlers.slack import Message, incident_key
from handlers.slack.blocks import clip, escape
from handlers.slack.effects import Body, Later
from storage.alerts import InboxEntry

log = structlog.get_logger()

_RUNBOOKS = "runbooks"
_GROUP_TAG = "firebreak_alert_group"
GROUP_KIND = "alert_group"
_ALL_RESOLVED = "all-resolved"


async def process(services: Services, entry: InboxEntry) -> None:
    """Apply one admitted Alertmanager notification."""
    with bound_contextvars(alert_group=entry.group_key):
        await _process(services, entry, await services.incidents.latest_from_source(entry.group_key))


async def process_run(services: Services, entries: Sequence[InboxEntry]) -> int:
    """Apply a run of one group's notifications, in order; how many of them, from the first, were applied.

    While the group's incident is open the run follows it together (each notification routes to UPDATE
    then): one SQL read of the incident, the group's states folded in order, every timeline entry in one
    statement, one write of the group's state. A run stops after a notification that leaves every alert
    resolved (its notice is for that moment). Anything else (a declaration, a reopening, a group below the
    threshold) is the first notification alone, as `process` applies it. Idempotent like `process`."""
    group_key = entries[0].group_key
    with bound_contextvars(alert_group=group_key):
        latest = await services.incidents.latest_from_source(group_key)
        if latest is None or not latest.status.is_open or len(entries) == 1:
            await _process(services, entries[0], latest)
            return 1
        known = await services.alerts.state(group_key)
        state, applied = known.fold([entry.notification for entry in entries], services.alert_policy)
        run = entries[:applied]
        for entry in run:
            log.info("alert_notification", route=Route.UPDATE.value, alerts=len(entry.notification.alerts))
        await services.alerts.remember(group_key, state)
        with bound_contextvars(incident=latest.number):
            await _follow(services, latest, run, state)
        return len(run)


async def _process(services: Services, entry: InboxEntry, latest: Incident | None) -> None:
    notification = entry.notification
    is_open = latest is not None and latest.status.is_open
    decision = route(
        notification,
        latest if is_open else None,
        None if is_open else latest,
        services.alert_policy,
        services.clock(),
    )
    log.info("alert_notification", route=decision.value, alerts=len(notification.alerts))
    if decision is Route.IGNORE:
        return
    if decision is Route.DECLARE:
        await services.alerts.forget(notification.group_key)  # a new incident starts the group afresh
    known = await services.alerts.state(notification.group_key)
    state = known.after(notification, services.alert_policy)
    await services.alerts.remember(notification.group_key, state)
    if decision is Route.NOTIFY:
        await _post_group(services, notification.group_key)
        return
    incident = await _incident_for(services, decision, latest, state, notification)
    with bound_contextvars(incident=incident.number):
        await _follow(services, incident, [entry], state)


async def declare_from_group(services: Services, group_key: str, user: str) -> Incident:
    """The "Declare incident" button of a below-threshold group: declare it, with the group's alerts."""
    latest = await services.incidents.latest_from_source(group_key)
    if latest is not None and latest.status.is_open:  # declared already (a click again, perhaps after a failure)
        await services.effects.refresh(group_queue(group_key), group_refresh(group_key))
        return latest
    state = await services.alerts.state(group_key)
    incident, created = await flows.declare_incident(
        services,
        title=messages.group_text(state.title or group_key),
        severity=state.severity,
        declared_by=user,
        description=f"Declared from Alertmanager group `{escape(group_key)}`.",
        idempotency_key=_declare_key(group_key, latest),
        source_group_key=group_key,
        earlier=[_safe(e) for e in record_entries(state.records)],
        drill=is_drill_group(group_key),
    )
    if created:
        services.outbox.submit(_key(incident), lambda: _open(services, incident))
        await services.effects.refresh(group_queue(group_key), group_refresh(group_key))  # "declared as #n"
    return incident


async def _incident_for(
    services: Services, decision: Route, latest: Incident | None, state: GroupState, notification: Notification
) -> Incident:
    if decision is Route.UPDATE:
        assert latest is not None
        return latest
    if decision is Route.REOPEN:
        assert latest is not None
        try:
            transition = await flows.act(services, latest, Reopen(None))
        except InvalidTransition:  # reopened meanwhile by someone else
            return await services.incidents.get(latest.number)
        flows.perform_later(services, transition.incident)
        return transition.incident
    group_key = notification.group_key
    service = services.alert_policy.service(notification)
    served = f" Service: {escape(service)}." if service else ""
    incident, created = await flows.declare_incident(
        services,
        title=messages.group_text(state.title),
        severity=state.severity,
        declared_by=None,
        description=f"Opened by Alertmanager group `{escape(group_key)}`.{served}",
        idempotency_key=_declare_key(group_key, latest),
        source_group_key=group_key,
        service=service,
        drill=is_drill_group(group_key, notification.common_labels),
    )
    if created:
        services.outbox.submit(_key(incident), lambda: _open(services, incident))
    return incident


async def _follow(services: Services, incident: Incident, run: Sequence[InboxEntry], state: GroupState) -> None:
    """Record a run of the group's notifications on the incident (`state`: the group's after the last)."""
    number = incident.number
    new = [pair for entry in run for pair in new_alerts(entry.notification, entry.new_tokens)]
    await timeline.record(services, number, [(_safe(e), once) for once, e in alert_entries(new)])
    fired: dict[str, Alert] = {}  # the first alert to fire of each name
    for _, alert in new:
        if alert.status is AlertStatus.FIRING:
            fired.setdefault(alert.name, alert)
    if fired:
        await services.alerts.reset_for_incident(number, _ALL_RESOLVED)
    for alert in fired.values():  # each step is queued (once) before it is marked, so a failure in between retries it
        if not await services.alerts.marked_for_incident(number, _RUNBOOKS, alert.name):
            await _runbook(services, incident, alert.name, alert.labels, alert.annotations.get("runbook_url"))
            await services.alerts.first_for_incident(number, _RUNBOOKS, alert.name)
    await services.effects.refresh(_key(incident), card(number))
    if state.all_resolved and not await services.alerts.marked_for_incident(number, _ALL_RESOLVED, "notice"):
        await _all_resolved(services, incident, once=_all_resolved_token(state))
        await services.alerts.first_for_incident(number, _ALL_RESOLVED, "notice")


async def _runbook(
    services: Services, incident: Incident, alertname: str, labels: dict[str, str], url: str | None
) -> None:
    """Post the local runbook and the alert's own `runbook_url`, whichever there are (both when both)."""
    runbook = services.runbooks.find(alertname, labels, services.alert_policy.service_labels)
    texts, noted = [], []
    if runbook is not None:
        texts.append(messages.runbook_message(alertname, runbook.title, slack_text(runbook)))
        noted.append(runbook.title)
    if url:
        texts.append(messages.runbook_link(alertname, url))
        noted.append(url)
    if not texts:
        return
    text = f"Runbook for {alertname}: {', '.join(noted)}"
    entry = _safe(TimelineEntry(services.clock(), EntryKind.RUNBOOK, None, text))
    once = f"runbook:{alertname}"  # the post first: a death before the entry is written posts it once all the same
    await services.effects.queue(_key(incident), [post(incident.number, "\n\n".join(texts))], once=once)
    if (await timeline.record(services, incident.number, [(entry, once)]))[0]:
        log.info("runbook_posted", alertname=alertname, runbook=noted)


async def _all_resolved(services: Services, incident: Incident, once: str) -> None:
    if incident.severity in services.alert_policy.auto_resolve:
        try:
            transition = await flows.act(services, incident, Resolve(None, "All alerts resolved."))
        except InvalidTransition:
            return
        flows.perform_later(services, transition.incident)
        log.info("incident_auto_resolved")
        return
    body = post(incident.number, "All alerts resolved", messages.all_alerts_resolved(incident))
    await services.effects.queue(_key(incident), [body], once=once)
    log.info("alerts_all_resolved")


async def _post_group(services: Services, group_key: str) -> None:
    """Post the group once in the alerts channel and keep that message current (stored, coalesced)."""
    if services.alert_groups(is_drill_group(group_key)) is None:
        log.warning("alerts_channel_unset", hint="set ALERTS_CHANNEL (DRILL_CHANNEL for drills) to see alert groups")
        return
    await services.effects.refresh(group_queue(group_key), group_refresh(group_key))


async def render_group(services: Services, group_key: str) -> None:
    """The group's message in the alerts channel, as it stands: its alerts, or the incident declared from it.

    The first post is tagged with the group: with no message noted (a process died before noting it, or Redis
    lost the note), the channel's recent history is searched for it before posting."""
    channel = services.alert_groups(is_drill_group(group_key))
    if channel is None:
        return
    ts = await services.alerts.message(group_key)
    latest = await services.incidents.latest_from_source(group_key)
    if latest is not None and latest.status.is_open:  # declared from its "Declare incident" button
        if ts is None:
            return
        if latest.channel_id is None:
            raise Later(f"incident #{latest.number} has no channel yet")
        title = short_title(latest)
        declared = messages.alert_group_declared(title, latest.number, latest.channel_id)
        await services.slack.update(Message(channel, ts), title, declared)
        return
    state = await services.alerts.state(group_key)
    text = messages.group_text(state.title)
    message = messages.alert_group_message(state.title, state.severity, state.summary, group_key)
    tag = (_GROUP_TAG, _group_id(group_key))
    if ts is None and (found := await services.slack.find_posted(channel, tag)):
        ts = found.ts
        await services.alerts.set_message(group_key, ts)
    if ts is None:
        posted = await services.slack.post(channel, text, message, tag=tag)
        await services.alerts.set_message(group_key, posted.ts)
    else:
        await services.slack.update(Message(channel, ts), text, message)


def group_queue(group_key: str) -> str:
    """The effect queue of an alert group's message (one message per group: its updates go in order), by a
    digest: a group key can be kilobytes long."""
    return f"group:{_group_id(group_key)}"


def _group_id(group_key: str) -> str:
    return hashlib.sha256(group_key.encode()).hexdigest()[:24]


def group_refresh(group_key: str) -> Body:
    return {"kind": GROUP_KIND, "group": group_key}


async def _open(services: Services, incident: Incident) -> None:
    await flows.open_channel(services, incident)  # which reads it again once it holds the setup


def _safe(entry: TimelineEntry) -> TimelineEntry:
    """A timeline entry built from alert labels and annotations, made mrkdwn-safe like every stored text."""
    return replace(entry, text=escape(clip(entry.text, 1000)))


def _all_resolved_token(state: GroupState) -> str:
    """The once-token of one all-resolved notice: the same for every notification (or worker) that finds these
    alert states all resolved, a new one once any alert fires again."""
    states = "\n".join(sorted(record.token for record in state.records))
    return f"all-resolved:{hashlib.sha256(states.encode()).hexdigest()[:24]}"


def _declare_key(group_key: str, latest: Incident | None) -> str:
    return flows.IdempotencyKey.alert_group(group_key, latest.number if latest else 0)


def _key(incident: Incident) -> str:
    return incident_key(incident.number)
