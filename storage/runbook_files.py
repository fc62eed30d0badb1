"""Read `runbooks/*.md` once at startup (sync: it runs before the server serves)."""

from pathlib import Path

from domain.runbooks import Runbooks


def load_runbooks(directory: Path) -> Runbooks:
    """Every `*.md` in `directory`, parsed; a missing directory has none. A bad file raises InvalidRunbook."""
    if not directory.is_dir():
        return Runbooks.from_texts({})
    texts = {path.stem: path.read_text(encoding="utf-8") for path in sorted(directory.glob("*.md"))}
    return Runbooks.from_texts(texts)
