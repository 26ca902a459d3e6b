"""Serving the API with uvicorn in a background thread, so ``notifier serve`` can run it
beside the dispatcher and the worker, and ``notifier api`` alone, with one stop path."""

from __future__ import annotations

import threading

import uvicorn

from notifier.api.app import create_app
from notifier.api.slowclients import protocol
from notifier.errors import ConfigError
from notifier.runtime import Runtime

START_POLLS = 400  # x 0.025 s: how long uvicorn may take to bind before we give up


class ApiServer:
    def __init__(self, runtime: Runtime, host: str, port: int) -> None:
        config = uvicorn.Config(
            create_app(runtime), host=host, port=port,
            log_config=None,  # keep our redacting logging set-up
            access_log=False,  # Hardening logs requests without query strings or headers
            server_header=False, lifespan="off",
            # Slow clients (issue 17): a deadline for each request head, idle keep-alive
            # closed after 5 s, and a bound on connections at once (503 beyond it).
            http=protocol(runtime.settings.api_header_timeout), timeout_keep_alive=5,
            limit_concurrency=runtime.settings.api_limit_concurrency,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, name="notifier-api", daemon=True)
        self.where = f"{host}:{port}"

    def _run(self) -> None:
        try:
            self.server.run()
        except SystemExit:  # uvicorn exits when it cannot bind; start() reports that
            return

    def start(self) -> str:
        """Start serving; returns the bound address. ConfigError if it cannot bind."""
        self.thread.start()
        for _ in range(START_POLLS):
            if self.server.started or not self.thread.is_alive():
                break
            self.thread.join(0.025)
        if not self.server.started:
            self.stop()
            raise ConfigError(f"the API could not listen on {self.where} (port in use?)")
        sockets = [s for server in self.server.servers for s in server.sockets]
        host, port = sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
