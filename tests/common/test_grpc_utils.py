import os
import signal
import subprocess
import sys
import textwrap

import grpc
import pytest

from modyn.common.grpc_utils import GrpcServer, check_health, wait_for_health
from modyn.common.testing import free_port


def test_health_serving_then_not(port: int) -> None:
    server = GrpcServer("t", "127.0.0.1", port, lambda _server: None)
    assert not check_health("127.0.0.1", port, timeout_s=0.5)
    server.start()
    assert wait_for_health("127.0.0.1", port, timeout_s=10)
    server.stop(0)
    assert not check_health("127.0.0.1", port, timeout_s=0.5)


def test_port_in_use_is_a_clear_error(port: int) -> None:
    with GrpcServer("first", "127.0.0.1", port, lambda _server: None):
        with pytest.raises(OSError, match=f"cannot bind 127.0.0.1:{port}"):
            GrpcServer("second", "127.0.0.1", port, lambda _server: None)


def test_sigterm_stops_cleanly_with_exit_0() -> None:
    port = free_port()
    code = textwrap.dedent(f"""
        import sys
        from modyn.common.grpc_utils import GrpcServer, run_until_signalled
        hooks = [lambda: print("hook ran", flush=True)]
        sys.exit(run_until_signalled(GrpcServer("t", "127.0.0.1", {port}, lambda s: None), hooks))
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert wait_for_health("127.0.0.1", port, timeout_s=30)
        os.kill(process.pid, signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "hook ran" in out


def test_unreachable_server_is_unavailable() -> None:
    from modyn.common.clients import describe_rpc_error
    from modyn.common.clients.storage_client import StorageClient

    client = StorageClient("127.0.0.1", free_port())
    with pytest.raises(grpc.RpcError) as info:
        client.dataset_available("x")
    assert describe_rpc_error("storage", info.value).startswith("storage is unavailable")


def test_healthcheck_cli_exit_codes(port: int) -> None:
    from modyn.common.healthcheck import main

    assert main(["127.0.0.1", str(port)]) == 1
    with GrpcServer("t", "127.0.0.1", port, lambda _server: None):
        assert main(["127.0.0.1", str(port)]) == 0
    assert main(["127.0.0.1"]) == 2
