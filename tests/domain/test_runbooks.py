"""Runbook parsing, matching and Slack rendering."""

import re

import pytest

from domain.runbooks import InvalidRunbook, Runbooks, parse_runbook, slack_text

GOOD = """---
title: Checkout errors
alertnames: [CheckoutHighErrorRate, CheckoutLatency]
services: checkout, payments
---
# Heading

Body with **bold** and a [link](https://example.com/x).
- first
"""


def test_parse_front_matter_and_body() -> None:
    """Front matter lists in both spellings are read; the body follows the closing line."""
    runbook = parse_runbook("checkout", GOOD)
    assert runbook.title == "Checkout errors"
    assert runbook.alertnames == {"CheckoutHighErrorRate", "CheckoutLatency"}
    assert runbook.services == {"checkout", "payments"}
    assert runbook.body.startswith("# Heading")


def test_title_falls_back_to_heading_then_name() -> None:
    """Without a title the first heading is used, then the file name."""
    assert parse_runbook("x", "---\nalertnames: [A]\n---\n# From heading\ntext").title == "From heading"
    assert parse_runbook("x", "---\nalertnames: [A]\n---\ntext").title == "x"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter", "must start with a `---` front matter block"),
        ("---\nalertnames: [A]\n# never closed", "has no closing `---`"),
        ("---\ntitle: only a title\n---\nbody", "name at least one of `alertnames` or `services`"),
        ("---\nalertnames: [A]\nowner: me\n---\n", "line 3: unknown key `owner`"),
        ("---\nalertnames [A]\n---\n", "line 2: expected `key: value`"),
    ],
)
def test_bad_runbooks_are_refused(text: str, message: str) -> None:
    """Each malformed runbook is refused, naming the runbook and the problem."""
    with pytest.raises(InvalidRunbook, match=re.escape(message)) as refused:
        parse_runbook("bad", text)
    assert str(refused.value).startswith("runbook bad")


BOOKS = Runbooks.from_texts(
    {
        "b-checkout": "---\nservices: [checkout]\n---\nservice book",
        "a-alert": "---\nalertnames: [CheckoutHighErrorRate]\n---\nalert book",
        "c-team": "---\nservices: [db]\n---\nteam book",
    }
)


@pytest.mark.parametrize(
    ("alertname", "labels", "expected"),
    [
        ("CheckoutHighErrorRate", {"service": "checkout"}, "a-alert"),
        ("Other", {"service": "checkout"}, "b-checkout"),
        ("Other", {"team": "db"}, "c-team"),
        ("Other", {"service": "checkout", "team": "db"}, "b-checkout"),
        ("Other", {"service": "unknown", "team": "db"}, "c-team"),
        ("Other", {}, None),
    ],
)
def test_find(alertname: str, labels: dict[str, str], expected: str | None) -> None:
    """An alertname match wins; then service labels in order; else nothing."""
    found = BOOKS.find(alertname, labels)
    assert (found.name if found else None) == expected


def test_get_and_names() -> None:
    """Runbooks are found by name case-insensitively and listed sorted."""
    assert BOOKS.names() == ["a-alert", "b-checkout", "c-team"]
    assert BOOKS.get("A-ALERT") is BOOKS.by_name["a-alert"]
    assert BOOKS.get("missing") is None


def test_slack_text_converts_markdown() -> None:
    """Headings, bold, links and bullets become Slack mrkdwn; code blocks are kept."""
    runbook = parse_runbook("r", GOOD + "```\n**not bold** in code\n```\n")
    text = slack_text(runbook)
    assert text.splitlines()[0] == "*Heading*"
    assert "*bold*" in text
    assert "<https://example.com/x|link>" in text
    assert "• first" in text
    assert "**not bold** in code" in text


def test_slack_text_fits_a_section() -> None:
    """Long runbooks are cut to fit one Slack section block."""
    runbook = parse_runbook("r", "---\nalertnames: [A]\n---\n" + "word " * 2000)
    text = slack_text(runbook)
    assert len(text) <= 2900
    assert text.endswith("…")
