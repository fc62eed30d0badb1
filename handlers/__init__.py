"""Slack listeners, HTTP views and the use-case flows behind them, one package per capability.

`slack` (the Slack edge) and `command` (the slash command router) are shared; `incidents`, `alerts` and
`paging` are the capabilities, which never import each other except that all may build on `incidents`.
`bot` builds and wires them.
"""

from handlers.services import SERVICES, Clock, DeclareHook, Services

__all__ = ["SERVICES", "Clock", "DeclareHook", "Services"]
