"""The HTTP server in a process whose every file descriptor is taken, as streams could take them.

`python -m tests.integration.exporter.fd_hog` prints the server's port, then `exhausted` once
no descriptor is left. A line `free` on stdin closes the hogged descriptors (it prints
`freed`); end of input stops the server. Log lines go to stderr.
"""

from __future__ import annotations

import os
import resource
import sys

from exporter.config import LogFormat
from exporter.exposition.render import Exposition
from exporter.logs import configure_logging
from exporter.state.store import StateStore
from exporter.web.endpoints import WebServer

MAX_FILES = 64


def main() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (MAX_FILES, MAX_FILES))
    configure_logging("info", LogFormat.LOGFMT)
    store = StateStore()
    server = WebServer("127.0.0.1", 0, store, Exposition(store, lambda: b""))
    server.start()
    print(server.address[1], flush=True)
    hogged = []
    try:
        while True:
            hogged.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        print("exhausted", flush=True)
    for line in sys.stdin:
        if line.strip() == "free":
            for fd in hogged:
                os.close(fd)
            hogged.clear()
            print("freed", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
