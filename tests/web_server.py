"""The review web app served for real (uvicorn on a free loopback port, in a thread), for browser tests and
the concurrency benchmark."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(db: Path, **settings):
    """Serves `classifier.web.app.create_app(db, **settings)`; yields its base URL."""
    import uvicorn

    from classifier.web.app import create_app

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db, **settings), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
