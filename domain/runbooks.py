"""Runbooks: Markdown with a short front matter naming the alertnames and services they cover. Pure."""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from domain.errors import IncidentError

_KEYS = {"title", "alertnames", "services"}
_SECTION_LIMIT = 2900


class InvalidRunbook(IncidentError):
    """A runbook file that cannot be used; the message names it and the problem."""


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    alertnames: frozenset[str]
    services: frozenset[str]
    body: str


def parse_runbook(name: str, text: str) -> Runbook:
    """Split `---` front matter (`key: value` lines; lists as `[a, b]` or `a, b`) from the Markdown body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        raise InvalidRunbook(f"runbook {name}: it must start with a `---` front matter block")
    try:
        end = next(i for i, line in enumerate(lines[1:], start=1) if line.strip() == "---")
    except StopIteration:
        raise InvalidRunbook(f"runbook {name}: the front matter has no closing `---`") from None
    fields = _front_matter(name, lines[1:end])
    body = "\n".join(lines[end + 1 :]).strip()
    alertnames = frozenset(_list(fields.get("alertnames", "")))
    services = frozenset(_list(fields.get("services", "")))
    if not alertnames and not services:
        raise InvalidRunbook(f"runbook {name}: name at least one of `alertnames` or `services`")
    heading = next((line.lstrip("#").strip() for line in body.splitlines() if line.startswith("# ")), "")
    return Runbook(name, fields.get("title", "").strip() or heading or name, alertnames, services, body)


def _front_matter(name: str, lines: Sequence[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for number, line in enumerate(lines, start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not key:
            raise InvalidRunbook(f"runbook {name}, line {number}: expected `key: value`, got `{line.strip()}`")
        if key not in _KEYS:
            raise InvalidRunbook(
                f"runbook {name}, line {number}: unknown key `{key}` (use title, alertnames, services)"
            )
        fields[key] = value.strip()
    return fields


def _list(value: str) -> list[str]:
    inner = value.strip().removeprefix("[").removesuffix("]")
    return [item.strip().strip("'\"") for item in inner.split(",") if item.strip().strip("'\"")]


@dataclass(frozen=True)
class Runbooks:
    by_name: Mapping[str, Runbook]

    @classmethod
    def from_texts(cls, texts: Mapping[str, str]) -> "Runbooks":
        parsed = {name: parse_runbook(name, text) for name, text in sorted(texts.items())}
        return cls(MappingProxyType(parsed))

    def find(
        self, alertname: str, labels: Mapping[str, str], service_labels: Sequence[str] = ("service", "team")
    ) -> Runbook | None:
        """The runbook for this alertname, else for the first service label the alert carries."""
        ordered = sorted(self.by_name.values(), key=lambda runbook: runbook.name)
        for runbook in ordered:
            if alertname in runbook.alertnames:
                return runbook
        for label in service_labels:
            service = labels.get(label)
            match = next((r for r in ordered if service and service in r.services), None)
            if match is not None:
                return match
        return None

    def get(self, name: str) -> Runbook | None:
        wanted = name.lower().removesuffix(".md")
        return next((r for r in self.by_name.values() if r.name.lower() == wanted), None)

    def names(self) -> list[str]:
        return sorted(self.by_name)


_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_BULLET = re.compile(r"^(\s*)[-*]\s+")


def slack_text(runbook: Runbook) -> str:
    """The body as Slack mrkdwn (headings, bold, links, bullets), cut to fit one section block."""
    out, in_code = [], False
    for line in runbook.body.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            out.append("```")
            continue
        if in_code:
            out.append(line)
            continue
        heading = _HEADING.match(line)
        line = f"*{heading.group(1).strip()}*" if heading else _BULLET.sub(r"\1• ", line)
        out.append(_LINK.sub(r"<\2|\1>", _BOLD.sub(r"*\1*", line)))
    text = "\n".join(out)
    return text if len(text) <= _SECTION_LIMIT else text[: _SECTION_LIMIT - 1] + "…"
