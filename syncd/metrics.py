"""The optional Prometheus endpoint of `syncd run` ([metrics] listen = "host:port")."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

if TYPE_CHECKING:
    from syncd.runner import RunReport
    from syncd.state.store import Store


class Metrics:
    def __init__(self, listen: str | None) -> None:
        self.listen = listen
        self.registry = CollectorRegistry()
        self.runs = Counter("syncd_runs", "Runs by job and result", ["job", "status"], registry=self.registry)
        self.calls = Counter("syncd_api_calls", "API calls made", ["job", "system"], registry=self.registry)
        self.rate_limited = Counter(
            "syncd_rate_limited", "429 answers received", ["job", "system"], registry=self.registry
        )
        self.writes = Counter("syncd_writes", "Writes planned and sent", ["job", "system"], registry=self.registry)
        self.failures = Gauge("syncd_open_failures", "Records waiting in failures", ["job"], registry=self.registry)
        self.last_success = Gauge(
            "syncd_last_success_timestamp_seconds", "When the job last ran clean", ["job"], registry=self.registry
        )
        self._server: Any = None

    def start(self) -> None:
        if self.listen is None:
            return
        host, _, port = self.listen.rpartition(":")
        self._server, _ = start_http_server(int(port), addr=host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def observe(self, report: RunReport, store: Store) -> None:
        job = report.job
        self.runs.labels(job, report.status).inc()
        for system, api in report.api.items():
            self.calls.labels(job, system).inc(api["calls"])
            self.rate_limited.labels(job, system).inc(api["rate_limited"])
        if report.plan is not None:
            for action in report.plan.writes():
                self.writes.labels(job, action.system).inc()
        self.failures.labels(job).set(len(store.failures(job)))
        if report.exit_code == 0:
            self.last_success.labels(job).set(time.time())
