"""Composition root: settings, logging, the aiohttp server, the Bolt app and the CLI. Nothing imports it."""
