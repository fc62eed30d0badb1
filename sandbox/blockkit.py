"""How the fake Slack API reads and checks arguments, with Slack's error codes.

Reading: query string plus JSON or form body, bearer token, required arguments, cursor pagination.
Payload rules: Block Kit limits, required message content, channel names. The checks raise `SlackError`;
Block Kit errors read like Slack's ("must be less than 3001 characters [json-pointer:/blocks/0/text/text]").
"""

import base64
import contextlib
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

Json = dict[str, Any]
_JSON_FIELDS = ("blocks", "attachments", "view")  # decoded when sent as JSON strings (form bodies)
MESSAGE_MAX_TEXT = 40000
CHANNEL_NAME_MAX = 80

MESSAGE_MAX_BLOCKS = 50
SURFACE_MAX_BLOCKS = 100  # modals and the Home tab

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
_OPTION_LIMITS = {  # element type -> max options
    "static_select": 100,
    "multi_static_select": 100,
    "radio_buttons": 10,
    "checkboxes": 10,
    "overflow": 5,
}


class SlackError(Exception):
    """A Slack error answer: `{"ok": false, "error": error, **extra}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


# -- reading arguments ---------------------------------------------------------------------------------------------
async def read_args(request: web.Request) -> tuple[Json, str | None]:
    """Query string plus JSON or form body; JSON strings in blocks/attachments/view are decoded."""
    args: Json = dict(request.query)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return args, "invalid_json"
        if not isinstance(body, dict):
            return args, "invalid_json"
        args.update(body)
    elif request.body_exists:
        form = await request.post()
        args.update({key: value if isinstance(value, str) else repr(value) for key, value in form.items()})
    for key in _JSON_FIELDS:
        if isinstance(args.get(key), str):
            with contextlib.suppress(ValueError):  # a bad string stays: the method answers invalid_*_format
                args[key] = json.loads(args[key])
    return args, None


def bearer_token(header: str | None) -> str | None:
    scheme, _, token = (header or "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def check(condition: bool, error: str) -> None:
    if not condition:
        raise SlackError(error)


def arg(args: Json, key: str) -> str | None:
    value = args.get(key)
    return None if value is None or value == "" else str(value)


def require(args: Json, key: str, error: str = "invalid_arguments") -> str:
    value = arg(args, key)
    check(value is not None, error)
    return str(value)


def flag(args: Json, key: str) -> bool:
    return args.get(key) in (True, 1, "true", "1", "True")


def user_ids(args: Json) -> list[str]:
    raw = args.get("users") or []
    return [str(user).strip() for user in (raw if isinstance(raw, list) else str(raw).split(",")) if str(user).strip()]


def ts_bound(args: Json, key: str) -> Decimal | None:
    value = arg(args, key)
    try:
        bound = None if value is None else Decimal(value)
    except InvalidOperation:
        bound = Decimal("NaN")
    check(bound is None or bound.is_finite(), f"invalid_ts_{key}")
    return bound


def paginate(items: list[Json], args: Json, *, default: int, maximum: int) -> tuple[list[Json], str]:
    """One page of `items` and the next cursor ("" on the last page)."""
    try:
        limit = min(max(int(args.get("limit") or default), 1), maximum)
    except (TypeError, ValueError):
        raise SlackError("invalid_limit") from None
    start = 0
    if cursor := arg(args, "cursor"):
        try:
            kind, _, offset = base64.b64decode(cursor, validate=True).decode().partition(":")
            start = int(offset) if kind == "next" else -1
        except ValueError:
            start = -1
        check(start >= 0, "invalid_cursor")
    end = start + limit
    next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
    return items[start:end], next_cursor


# -- payload rules -------------------------------------------------------------------------------------------------
def check_message(args: Json) -> Json:
    """The message fields of a chat.* call, or SlackError (no_text, msg_too_long, invalid_blocks, ...)."""
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if not text and not blocks and not attachments and not args.get("markdown_text"):
        raise SlackError("no_text")
    if isinstance(text, str) and len(text) > MESSAGE_MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if not _is_object_list(blocks):
            raise SlackError("invalid_blocks_format")
        if errors := message_errors(blocks):
            raise SlackError("invalid_blocks", errors=errors, response_metadata=_metadata(errors))
    if attachments is not None and not _is_object_list(attachments):
        raise SlackError("invalid_attachments")
    return {key: args[key] for key in ("text", "blocks", "attachments", "markdown_text", "metadata") if key in args}


def check_view(args: Json, surface: str) -> Json:
    """The `view` of a views.* call, or SlackError. Slack answers invalid_arguments (not invalid_blocks) for views."""
    view = args.get("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", response_metadata=_metadata(["missing required field: view"]))
    if errors := view_errors(view, surface=surface):
        raise SlackError("invalid_arguments", errors=errors, response_metadata=_metadata(errors))
    return view


def check_channel_name(name: Any) -> str:
    """A valid conversations.create name, or SlackError (invalid_name_*)."""
    if not isinstance(name, str) or not name.strip():
        raise SlackError("invalid_name_required")
    if len(name) > CHANNEL_NAME_MAX:
        raise SlackError("invalid_name_maxlength")
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    return name


def _metadata(errors: list[str]) -> Json:
    return {"messages": [f"[ERROR] {error}" for error in errors]}


def message_errors(blocks: list[Any]) -> list[str]:
    """Errors in the `blocks` of chat.postMessage, chat.update or chat.postEphemeral."""
    checker = _Checker()
    checker.blocks(blocks, "/blocks", MESSAGE_MAX_BLOCKS)
    return checker.errors


def view_errors(view: Json, *, surface: str) -> list[str]:
    """Errors in a `view` for views.open/update (surface "modal") or views.publish (surface "home")."""
    checker = _Checker()
    if view.get("type") != surface:
        checker.fail("/view/type", f"must be {surface}")
    if surface == "modal":
        checker.text(view.get("title"), "/view/title", 24, plain=True)
        for key in ("submit", "close"):
            if key in view:
                checker.text(view[key], f"/view/{key}", 24, plain=True)
    checker.max_len(view.get("callback_id"), 255, "/view/callback_id")
    checker.max_len(view.get("external_id"), 255, "/view/external_id")
    checker.max_len(view.get("private_metadata"), 3000, "/view/private_metadata")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        checker.fail("/view/blocks", "must be an array")
        return checker.errors
    checker.blocks(blocks, "/view/blocks", SURFACE_MAX_BLOCKS)
    has_input = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
    if surface == "modal" and has_input and "submit" not in view:
        checker.fail("/view", "must define `submit` to use an `input` block in modals")
    return checker.errors


def _is_object_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(b, dict) for b in value)


class _Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, ptr: str, message: str) -> None:
        self.errors.append(f"{message} [json-pointer:{ptr}]")

    def max_len(self, value: Any, limit: int, ptr: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.fail(ptr, f"must be less than {limit + 1} characters")

    def max_items(self, value: Any, limit: int, ptr: str, *, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.fail(ptr, "must be an array")
            return []
        if len(value) > limit:
            self.fail(ptr, f"no more than {limit} items allowed")
        elif len(value) < minimum:
            self.fail(ptr, f"must provide at least {minimum} items")
        return value

    def text(self, obj: Any, ptr: str, limit: int, *, plain: bool = False) -> None:
        if not isinstance(obj, dict):
            self.fail(ptr, "must be a text object")
            return
        allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.fail(f"{ptr}/type", f"must be one of {', '.join(allowed)}")
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.fail(f"{ptr}/text", "must be more than 0 characters")
        else:
            self.max_len(text, limit, f"{ptr}/text")

    def blocks(self, blocks: list[Any], ptr: str, max_blocks: int) -> None:
        if len(blocks) > max_blocks:
            self.fail(ptr, f"no more than {max_blocks} items allowed")
        seen_ids: set[str] = set()
        for i, block in enumerate(blocks):
            if isinstance(block, dict):
                self.block(block, f"{ptr}/{i}", seen_ids)
            else:
                self.fail(f"{ptr}/{i}", "must be an object")

    def block(self, block: Json, ptr: str, seen_ids: set[str]) -> None:
        kind = block.get("type")
        if kind not in BLOCK_TYPES:
            self.fail(f"{ptr}/type", f"unsupported type: {kind}")
            return
        block_id = block.get("block_id")
        if isinstance(block_id, str):
            self.max_len(block_id, 255, f"{ptr}/block_id")
            if block_id in seen_ids:
                self.fail(f"{ptr}/block_id", f"duplicate block_id: {block_id}")
            seen_ids.add(block_id)
        checks = {
            "section": self._section,
            "header": self._header,
            "markdown": self._markdown,
            "context": self._context,
            "actions": self._actions,
            "input": self._input,
            "image": self._image,
        }
        if kind in checks:  # the other types (divider, rich_text, video, file, table...) have no limits checked here
            checks[kind](block, ptr)

    def _section(self, block: Json, ptr: str) -> None:
        if "text" not in block and "fields" not in block:
            self.fail(ptr, "must provide either text or fields")
        if "text" in block:
            self.text(block["text"], f"{ptr}/text", 3000)
        if "fields" in block:
            for i, field in enumerate(self.max_items(block["fields"], 10, f"{ptr}/fields")):
                self.text(field, f"{ptr}/fields/{i}", 2000)
        if "accessory" in block:
            self.element(block["accessory"], f"{ptr}/accessory")

    def _header(self, block: Json, ptr: str) -> None:
        self.text(block.get("text"), f"{ptr}/text", 150, plain=True)

    def _markdown(self, block: Json, ptr: str) -> None:
        self.max_len(block.get("text"), 12000, f"{ptr}/text")

    def _context(self, block: Json, ptr: str) -> None:
        for i, element in enumerate(self.max_items(block.get("elements"), 10, f"{ptr}/elements")):
            if isinstance(element, dict) and element.get("type") == "image":
                self.max_len(element.get("alt_text"), 2000, f"{ptr}/elements/{i}/alt_text")
            else:
                self.text(element, f"{ptr}/elements/{i}", 3000)

    def _actions(self, block: Json, ptr: str) -> None:
        for i, element in enumerate(self.max_items(block.get("elements"), 25, f"{ptr}/elements")):
            self.element(element, f"{ptr}/elements/{i}")

    def _input(self, block: Json, ptr: str) -> None:
        self.text(block.get("label"), f"{ptr}/label", 2000, plain=True)
        if "hint" in block:
            self.text(block["hint"], f"{ptr}/hint", 2000, plain=True)
        if "element" not in block:
            self.fail(ptr, "missing required field: element")
        else:
            self.element(block["element"], f"{ptr}/element")

    def _image(self, block: Json, ptr: str) -> None:
        if "image_url" not in block and "slack_file" not in block:
            self.fail(ptr, "missing required field: image_url")
        alt_text = block.get("alt_text")
        if not isinstance(alt_text, str) or not alt_text:
            self.fail(f"{ptr}/alt_text", "must be more than 0 characters")
        self.max_len(alt_text, 2000, f"{ptr}/alt_text")
        self.max_len(block.get("image_url"), 3000, f"{ptr}/image_url")

    def element(self, element: Any, ptr: str) -> None:
        if not isinstance(element, dict) or not isinstance(element.get("type"), str):
            self.fail(ptr, "missing required field: type")
            return
        kind = element["type"]
        self.max_len(element.get("action_id"), 255, f"{ptr}/action_id")
        if "placeholder" in element:
            self.text(element["placeholder"], f"{ptr}/placeholder", 150, plain=True)
        if "confirm" in element:
            self.confirm(element["confirm"], f"{ptr}/confirm")
        if kind == "button":
            self.text(element.get("text"), f"{ptr}/text", 75, plain=True)
            self.max_len(element.get("value"), 2000, f"{ptr}/value")
            self.max_len(element.get("url"), 3000, f"{ptr}/url")
            if element.get("style") not in (None, "primary", "danger"):
                self.fail(f"{ptr}/style", "must be one of primary, danger")
        elif kind == "plain_text_input":
            self.max_len(element.get("initial_value"), 3000, f"{ptr}/initial_value")
            if isinstance(element.get("max_length"), int) and element["max_length"] > 3000:
                self.fail(f"{ptr}/max_length", "must be at most 3000")
        elif kind in _OPTION_LIMITS:
            minimum = 2 if kind == "overflow" else 1
            options = self.max_items(element.get("options"), _OPTION_LIMITS[kind], f"{ptr}/options", minimum=minimum)
            for i, option in enumerate(options):
                self.option(option, f"{ptr}/options/{i}")

    def confirm(self, confirm: Any, ptr: str) -> None:
        """A confirmation dialog: title 100, text 300, confirm and deny 30 characters (all plain_text)."""
        if not isinstance(confirm, dict):
            self.fail(ptr, "must be a confirmation dialog object")
            return
        self.text(confirm.get("title"), f"{ptr}/title", 100, plain=True)
        self.text(confirm.get("text"), f"{ptr}/text", 300)
        for key in ("confirm", "deny"):
            self.text(confirm.get(key), f"{ptr}/{key}", 30, plain=True)

    def option(self, option: Any, ptr: str) -> None:
        if not isinstance(option, dict):
            self.fail(ptr, "must be an option object")
            return
        self.text(option.get("text"), f"{ptr}/text", 75)
        value = option.get("value")
        if not isinstance(value, str) or not value:
            self.fail(f"{ptr}/value", "must be more than 0 characters")
        self.max_len(value, 150, f"{ptr}/value")
