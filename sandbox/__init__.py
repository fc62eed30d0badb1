"""The Slack emulator: the Web API and Block Kit rules the tests and the sandbox both use, and the sandbox page."""
