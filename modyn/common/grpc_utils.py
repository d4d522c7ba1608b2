"""gRPC plumbing shared by every service: server start-up with health checks and clean shutdown,
client channels, deadlines, and a readiness wait."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

logger = logging.getLogger(__name__)

# Large messages are fine on loopback; models and sample batches are chunked well below this.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.keepalive_time_ms", 30_000),
]

# Deadlines (seconds) for client calls: short ones for control RPCs, long ones for bulk streams.
SHORT_DEADLINE_S = 30.0
LONG_DEADLINE_S = 3600.0


def make_channel(hostname: str, port: int) -> grpc.Channel:
    """An insecure channel with Modyn's message limits. Create it lazily in each process."""
    return grpc.insecure_channel(f"{hostname}:{port}", options=CHANNEL_OPTIONS)


def check_health(hostname: str, port: int, timeout_s: float = 2.0) -> bool:
    """True when the server at hostname:port answers SERVING on the standard health service."""
    with make_channel(hostname, port) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.RpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def wait_for_health(hostname: str, port: int, timeout_s: float = 60.0) -> bool:
    """Poll the health service until it answers SERVING or timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check_health(hostname, port, timeout_s=min(2.0, max(0.1, deadline - time.monotonic()))):
            return True
        time.sleep(0.1)
    return False


class GrpcServer:
    """A gRPC server with the standard health service, started on hostname:port.

    `add_servicers` gets the bare grpc.Server to register the service's servicers on.
    """

    def __init__(
        self,
        name: str,
        hostname: str,
        port: int,
        add_servicers: Callable[[grpc.Server], None],
        max_workers: int = 16,
    ) -> None:
        self.name = name
        self.address = f"{hostname}:{port}"
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=name),
            # no SO_REUSEPORT: a second server on a taken port must fail, not silently share it
            options=[*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)],
        )
        add_servicers(self._server)
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        try:
            bound = self._server.add_insecure_port(self.address)
        except RuntimeError as exc:  # grpc's own "Failed to bind" error
            raise OSError(f"{name}: cannot bind {self.address} (port in use or bad hostname)") from exc
        self.port = bound

    def start(self) -> None:
        self._server.start()
        self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        logger.info("%s serving on %s", self.name, self.address)

    def stop(self, grace_s: float = 5.0) -> None:
        self._health.enter_graceful_shutdown()
        self._server.stop(grace_s).wait()

    def __enter__(self) -> GrpcServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def run_until_signalled(server: GrpcServer, on_shutdown: Iterable[Callable[[], None]] = ()) -> int:
    """Serve until SIGINT/SIGTERM, then stop accepting calls, run the shutdown hooks, return 0."""
    stop = threading.Event()

    def _handler(signum: int, _frame: Any) -> None:
        logger.info("%s: received signal %d, shutting down", server.name, signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    server.start()
    stop.wait()
    server.stop()
    for hook in on_shutdown:
        hook()
    logger.info("%s stopped", server.name)
    return 0


def abort_with(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> None:
    """Abort the current RPC with a status code and a message that names what is wrong."""
    context.abort(code, message)
