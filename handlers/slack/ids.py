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
    POSTMORTEM_START = "postmortem_start"
    POSTMORTEM_EDIT = "postmortem_edit_section"
    POSTMORTEM_RELOAD = "postmortem_reload_section"
    POSTMORTEM_WHYS = "postmortem_five_whys"
    POSTMORTEM_ADD_ITEM = "postmortem_add_action_item"
    POSTMORTEM_ASK_REVIEW = "postmortem_ask_review"
    POSTMORTEM_APPROVE = "postmortem_approve"
    POSTMORTEM_REQUEST_CHANGES = "postmortem_request_changes"
    POSTMORTEM_PUBLISH = "postmortem_publish"
    POSTMORTEM_ADD_PICK = "postmortem_add_message_section"
    POSTMORTEM_TIMELINE = "postmortem_edit_timeline"
    ITEM_DONE = "action_item_done"
    ITEM_WONT_DO = "action_item_wont_do"


class CallbackId(StrEnum):
    DECLARE_MODAL = "incident_declare_modal"
    POSTMORTEM_SECTION = "postmortem_section_modal"
    POSTMORTEM_WHYS = "postmortem_whys_modal"
    POSTMORTEM_ITEM = "postmortem_action_item_modal"
    POSTMORTEM_REVIEW = "postmortem_review_modal"
    POSTMORTEM_CHANGES = "postmortem_changes_modal"
    POSTMORTEM_PUBLISH = "postmortem_publish_modal"
    POSTMORTEM_ADD_MESSAGE = "postmortem_add_message_modal"
    POSTMORTEM_TIMELINE = "postmortem_timeline_modal"
    ADD_TO_POSTMORTEM = "add_to_postmortem"  # the message shortcut


class BlockId(StrEnum):
    TITLE = "declare_title"
    SEVERITY = "declare_severity"
    DESCRIPTION = "declare_description"
    DRILL = "declare_drill"
    CARD_ACTIONS = "incident_card_actions"
    PM_TEXT = "postmortem_text"  # + part number: a section's text in 3,000-character inputs
    PM_WHY = "postmortem_why"
    PM_ITEM_TEXT = "postmortem_item_text"
    PM_ITEM_KIND = "postmortem_item_kind"
    PM_ITEM_OWNER = "postmortem_item_owner"
    PM_ITEM_PRIORITY = "postmortem_item_priority"
    PM_ITEM_DUE = "postmortem_item_due"
    PM_ITEM_TICKET = "postmortem_item_ticket"
    PM_REVIEWERS = "postmortem_reviewers"
    PM_COMMENT = "postmortem_comment"
    PM_SECTION = "postmortem_section_choice"
    PM_KEY = "postmortem_key_entries"
    PM_EXCLUDED = "postmortem_excluded_entries"
    PM_IMPACT_STARTED = "postmortem_impact_started"
    PM_IMPACT_ENDED = "postmortem_impact_ended"
    PM_ADD_AT = "postmortem_add_entry_at"
    PM_ADD_TEXT = "postmortem_add_entry_text"
