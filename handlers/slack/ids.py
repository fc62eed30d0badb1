"""Every action_id and callback_id the bot sends to Slack and listens for."""

from enum import StrEnum


class ActionId(StrEnum):
    ACKNOWLEDGE = "incident_acknowledge"
    CHANGE_STATUS = "incident_change_status"
    CHANGE_SEVERITY = "incident_change_severity"
    RESOLVE = "incident_resolve"
    REOPEN = "incident_reopen"
    DECLARE_FROM_ALERTS = "alerts_declare_incident"
    PAGE_ACKNOWLEDGE = "page_acknowledge"
    SNOOZE_REMINDER = "metrics_snooze_reminder"


class CallbackId(StrEnum):
    DECLARE_MODAL = "incident_declare_modal"


class BlockId(StrEnum):
    TITLE = "declare_title"
    SEVERITY = "declare_severity"
    DESCRIPTION = "declare_description"
    DRILL = "declare_drill"
    CARD_ACTIONS = "incident_card_actions"
