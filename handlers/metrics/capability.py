"""The metrics capability as one value: its store, clocks and instruments, under an app key for its views."""

from dataclasses import dataclass

from aiohttp import web

from domain.metrics import Window
from handlers.metrics import figures, report
from handlers.metrics.clocks import Clocks
from handlers.metrics.recorder import Recorder
from handlers.services import Services
from storage.metrics import MetricsStore


@dataclass(frozen=True)
class Metrics:
    services: Services
    store: MetricsStore
    clocks: Clocks
    recorder: Recorder

    async def figures(self, query: figures.Query) -> figures.Figures:
        services = self.services
        return await figures.compute(self.store, query, services.clock(), services.targets, services.resolution_targets)

    async def report(self, window: Window) -> report.Report:
        services = self.services
        return await report.build(self.store, window, services.clock(), services.targets, services.resolution_targets)


METRICS = web.AppKey("metrics", Metrics)
