"""Every Redis key shape Firebreak uses. No other module builds a key string."""

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key names under one prefix, so tests (or a second deployment) can share a Redis server.

    An incident's keys share the hash tag `{<number>}`, so one Lua script may touch them all on Redis Cluster.
    """

    prefix: str = "firebreak:"

    def timeline(self, number: int) -> str:
        """The incident's timeline: a Redis Stream, one entry per event."""
        return f"{self.prefix}incident:{{{number}}}:timeline"

    def timeline_pattern(self) -> str:
        """A SCAN pattern matching every incident's timeline stream (and only those)."""
        return f"{self.prefix}incident:{{*}}:timeline"

    def timeline_number(self, key: str) -> int:
        """The incident number of a key `timeline_pattern` matched."""
        return int(key.removeprefix(f"{self.prefix}incident:{{").split("}", 1)[0])

    def timeline_once(self, number: int) -> str:
        """A SET of tokens (e.g. a pinned message's ts) already appended to the incident's timeline."""
        return f"{self.prefix}incident:{{{number}}}:timeline-once"

    def seen(self, scope: str, token: str) -> str:
        """An idempotency marker, e.g. `seen("event", event_id)` or `seen("declare", trigger_id)`."""
        return f"{self.prefix}seen:{scope}:{token}"

    def incident_set(self, number: int, name: str) -> str:
        """A small per-incident SET, e.g. the alertnames whose runbook was already posted."""
        return f"{self.prefix}incident:{{{number}}}:{name}"

    def alert_inbox(self) -> str:
        """The stream of admitted Alertmanager notifications, read by the alert worker's consumer group."""
        return f"{self.prefix}alerts:inbox"

    def alert_inbox_priority(self) -> str:
        """The priority lane of the inbox: a group's first notification, and one that raises its severity."""
        return f"{self.prefix}alerts:inbox:priority"

    def alert_dead(self) -> str:
        """Notifications the worker gave up on (a stream); `firebreak alerts retry-dead` re-queues them."""
        return f"{self.prefix}alerts:dead"

    def alert_attempts(self) -> str:
        """A HASH of inbox entry id → failed attempts, while the entry is retried."""
        return f"{self.prefix}alerts:attempts"

    def alert_worker_lease(self) -> str:
        """Which alert worker is the active one (its consumer name), while it renews the lease."""
        return f"{self.prefix}alerts:worker-lease"

    def alert_group(self, group_key: str, part: str) -> str:
        """Per alert group: `seen-at` (admitted alert states by when), `alerts` (records), `message` (its ts)."""
        digest = hashlib.sha256(group_key.encode()).hexdigest()[:24]
        return f"{self.prefix}alerts:group:{{{digest}}}:{part}"

    def timers(self, part: str, family: str = "timers") -> str:
        """Durable timers: `due` (ZSET of timer id by due time), `leased` (ZSET by lease expiry), `body` (HASH).

        Each `family` (the pager's `timers`, `postmortem-timers`) is claimed by its own loop only."""
        return f"{self.prefix}{family}:{{t}}:{part}"

    def page(self, page_id: str) -> str:
        """One escalation (or one-off page): a HASH of incident, policy, step, round, status."""
        return f"{self.prefix}page:{{{page_id}}}"
