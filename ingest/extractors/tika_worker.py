"""The Tika helper process: ``python -m ingest.extractors.tika_worker FD`` parses
the files it is sent over the connection on file descriptor FD (see ``tika._Worker``)."""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection

from ingest.extractors.tika import _worker_main

if __name__ == "__main__":
    _worker_main(Connection(int(sys.argv[1])))
