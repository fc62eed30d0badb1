"""The router's own texts: help, usage errors, and "not an incident channel"."""

from handlers.command.grammar import USAGE


def help_text(command: str) -> str:
    lines = [f"*{command}* subcommands (inside an incident channel, or prefixed with the number: `{command} #42 ack`):"]
    lines += [f"• `{command} {usage}`" for usage in USAGE.values()]
    return "\n".join(lines)


def usage_error(message: str, command: str) -> str:
    return f"⚠️ {message}\nSee `{command} help` for every subcommand."


def no_incident_here(command: str, verb_usage: str) -> str:
    return (
        f"⚠️ This channel is not an incident channel. Name the incident: `{command} #<number> {verb_usage}`, "
        f"or see `{command} list`."
    )
