"""Read `runbooks/*.md` once at startup (sync: it runs before the server serves)."""

from pathlib import Path

from domain.runbooks import InvalidRunbook, Runbooks, parse_runbook


def load_runbooks(directory: Path) -> Runbooks:
    """Every `*.md` in `directory`, parsed; a missing directory has none. A bad file raises InvalidRunbook."""
    if not directory.is_dir():
        return Runbooks.from_texts({})
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.md"))}
    return Runbooks.from_texts(texts)


def runbook_problems(directory: Path) -> list[str]:
    """One line per runbook in `directory` that cannot be used (`load_runbooks` stops at the first)."""
    if not directory.is_dir():
        return []
    problems = []
    for path in sorted(directory.glob("*.md")):
        try:
            parse_runbook(path.stem, path.read_text(encoding="utf-8"))
        except InvalidRunbook as error:
            problems.append(str(error))  # "runbook <name>: <problem>"
        except (OSError, UnicodeDecodeError) as error:
            problems.append(f"{path}: cannot read it ({error.__class__.__name__})")
    return problems
