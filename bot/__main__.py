"""`python -m bot` (the Procfile's web process): run the bot."""

from bot.cli import main

raise SystemExit(main(["run"]))
