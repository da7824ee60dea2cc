"""Serves simulator apps over real loopback HTTP, each on its own port, from a background thread.

Used by `syncd sim`, `syncd demo` and the tests alike, so that everything talks to the simulators the
way it talks to a provider: through a socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.process
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn


@dataclass
class Served:
    name: str
    app: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class LoopbackServer:
    """Runs several ASGI apps in one event loop; ``stop()`` ends them all.

    ``process=True`` serves each app from its own forked child process instead of a thread, as real
    providers would be: neither the client's own CPU work (mapping thousands of records) nor another
    provider building a big answer can then hold up a server's clock, which stamps each request's arrival
    for its rate limits. Such a server is driven through its /_sim admin API only; the app objects in the
    parent are not the ones serving.
    """

    def __init__(
        self,
        apps: dict[str, Any],
        host: str = "127.0.0.1",
        ports: dict[str, int] | None = None,
        *,
        process: bool = False,
    ):
        self.process = process
        self._children: list[multiprocessing.process.BaseProcess] = []
        if not host.startswith("127.") and host not in ("localhost", "::1"):
            raise ValueError("simulators only listen on loopback")
        self.host = host
        self._sockets: dict[str, socket.socket] = {}
        self.served: dict[str, Served] = {}
        for name, app in apps.items():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else ~40 ms per kept-alive answer
            sock.bind((host, (ports or {}).get(name, 0)))
            sock.listen(128)
            self._sockets[name] = sock
            self.served[name] = Served(name, app, sock.getsockname()[1])
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def url(self, name: str) -> str:
        return self.served[name].url

    def start(self) -> LoopbackServer:
        if self.process:
            context = multiprocessing.get_context("fork")
            for name in self.served:
                child = context.Process(target=self._run, args=([name],), name=f"syncd-sim-{name}", daemon=True)
                child.start()
                self._children.append(child)
            for sock in self._sockets.values():
                sock.close()  # the child serves them
            for served in self.served.values():
                _wait_until_listening(self.host, served.port)
            return self
        self._thread = threading.Thread(target=self._run, name="syncd-sim", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("simulators did not start within 10 s")
        return self

    def _run(self, names: list[str] | None = None) -> None:
        for name, sock in self._sockets.items():
            if names is not None and name not in names:
                sock.close()  # a sibling process serves it
        asyncio.run(self._serve_all(names))

    async def _serve_all(self, names: list[str] | None = None) -> None:
        tasks = []
        for name, served in self.served.items():
            if names is not None and name not in names:
                continue
            config = uvicorn.Config(
                served.app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
            )
            server = uvicorn.Server(config)
            # uvicorn < 0.29 installs signal handlers unless told not to (newer ones skip it off the
            # main thread): setattr keeps this working on both without a type error on either.
            setattr(server, "install_signal_handlers", lambda: None)  # noqa: B010
            self._servers.append(server)
            tasks.append(asyncio.create_task(server.serve(sockets=[self._sockets[name]])))
        while not all(s.started for s in self._servers):
            await asyncio.sleep(0.01)
        self._started.set()
        await asyncio.gather(*tasks)

    def stop(self) -> None:
        if self._children:
            for child in self._children:
                child.terminate()
            for child in self._children:
                child.join(10)
                if child.is_alive():
                    child.kill()
                    child.join(5)
            self._children = []
            return
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        for sock in self._sockets.values():
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _wait_until_listening(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"simulator on port {port} did not start within {timeout:.0f} s") from None
            time.sleep(0.02)


@contextlib.contextmanager
def serving(apps: dict[str, Any]) -> Iterator[LoopbackServer]:
    with LoopbackServer(apps) as server:
        yield server
