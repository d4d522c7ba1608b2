"""Where training and evaluation jobs get their processes from: a fork server with torch already loaded.

A job process must not inherit a gRPC channel or server through fork (GUIDE.md), which is why jobs
were spawned; but a spawned interpreter spends seconds importing torch before the job's first line
(3-4 s on a 2-core machine, for every trigger). The `forkserver` start method keeps both properties:
the fork server is a fresh interpreter started once (it inherits nothing from the service), imports
the modules named here, creates no channel or server, and forks one child per job from that state.
A job then starts in tens of milliseconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Iterable
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext

logger = logging.getLogger(__name__)

# Modules every job needs; importing them is most of a fresh interpreter's start-up cost. torch._dynamo:
# torch imports it on the first optimizer a process builds (Adam & co.), which alone takes seconds.
# "__main__": the service's main script, which every child would otherwise run again before its job.
BASE_PRELOAD = ("__main__", "numpy", "torch", "torch._dynamo", "PIL.Image", "modyn.models")

_preload: list[str] = []
_lock = threading.Lock()


def job_context(preload: Iterable[str] = ()) -> ForkServerContext:
    """The multiprocessing context for job processes; its fork server preloads BASE_PRELOAD and `preload`
    (modules whose import must not create gRPC channels or servers), and is started in the background
    so that the first job does not wait for it."""
    with _lock:
        for module in (*BASE_PRELOAD, *preload):
            if module not in _preload:
                _preload.append(module)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(_preload))
    threading.Thread(target=_start_server, name="modyn-forkserver-start", daemon=True).start()
    return context


def _start_server() -> None:
    try:
        forkserver.ensure_running()
    except Exception:  # noqa: BLE001 - the first job start retries and reports the problem itself
        logger.exception("could not start the job fork server ahead of the first job")
