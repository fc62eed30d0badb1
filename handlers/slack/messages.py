"""Texts every capability shows when Slack or the bot itself failed."""

from collections.abc import Sequence


def slack_failed(number: int, method_errors: Sequence[str]) -> str:
    return (
        f"⚠️ Incident #{number} is saved, but Slack refused part of the update ({', '.join(method_errors)}). "
        "The timeline is intact; the next action on the incident retries the card."
    )


def slack_refused(failure: str) -> str:
    return f"⚠️ Slack refused a call ({failure}). Nothing stored was lost; please try again."


def unexpected_error(error_id: str) -> str:
    return f"⚠️ Something went wrong on our side (error {error_id}). Nothing you entered was lost; please try again."


def unknown_interaction(what: str) -> str:
    return f"⚠️ This bot does not know the {what} you used (perhaps from an older message). Nothing was changed."


def busy() -> str:
    return "⏳ Firebreak is overloaded right now: your command was *not* run. Please try again in a few seconds."
