"""The Slack edge every capability shares: the gateway (the only caller of the Web API), the outbox, the
middleware, payload models, ids, Block Kit primitives and the shared failure texts."""

from handlers.slack.admission import Admission
from handlers.slack.gateway import (
    Block,
    Channel,
    FetchedMessage,
    Message,
    SlackGateway,
    build_client,
    describe_failure,
    error_code,
    http_session,
)
from handlers.slack.ids import ActionId, BlockId, CallbackId
from handlers.slack.outbox import Job, SlackOutbox, TokenBucket, incident_key, person_key
from handlers.slack.payloads import (
    BlockActions,
    MessageShortcut,
    PinAdded,
    ReactionAdded,
    SlashCommand,
    ViewSubmission,
)

__all__ = [
    "ActionId",
    "Admission",
    "Block",
    "BlockActions",
    "BlockId",
    "CallbackId",
    "Channel",
    "FetchedMessage",
    "Job",
    "Message",
    "MessageShortcut",
    "PinAdded",
    "ReactionAdded",
    "SlackGateway",
    "SlackOutbox",
    "SlashCommand",
    "TokenBucket",
    "ViewSubmission",
    "build_client",
    "describe_failure",
    "error_code",
    "http_session",
    "incident_key",
    "person_key",
]
