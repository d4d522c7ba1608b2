"""StopTraining: a running job is ended at once (its process gone), over gRPC against a real trainer server."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import grpc
import pytest
from trainer_test_helpers import SCALED_BYTES_PARSER, Services, pipeline_config

from modyn.common.clients.trainer_server_client import TrainerServerClient
from modyn.common.grpc_utils import GrpcServer
from modyn.common.testing import free_port
from modyn.trainer_server.trainer_server_entrypoint import build


def pid_reporting_blocking_parser(pid_file: Path) -> str:
    """A parser that writes its process id, then blocks (up to 60 s): a job that runs until stopped."""
    return f"""
import os, time
def bytes_parser_function(data: bytes):
    with open({str(pid_file)!r}, "w") as out:
        out.write(str(os.getpid()))
    time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_training_ends_the_job_process_and_reports_why(services: Services, tmp_path: Path) -> None:
    config = json.loads(json.dumps(services.system_config))
    config["trainer_server"]["port"] = free_port()
    config["trainer_server"]["scratch_directory"] = str(tmp_path / "scratch")
    parts = build(config)
    server = GrpcServer("trainer_server", "127.0.0.1", config["trainer_server"]["port"], parts.add_servicers)
    server.start()
    client = TrainerServerClient("127.0.0.1", config["trainer_server"]["port"])
    try:
        pid_file = tmp_path / "job.pid"
        pipeline = pipeline_config()
        pipeline["data"]["bytes_parser_function"] = pid_reporting_blocking_parser(pid_file)
        pipeline_id, trigger_id, _ = services.new_trigger(pipeline)
        training_id = client.start_training(pipeline_id, trigger_id, pipeline, None)
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int(pid_file.read_text())
        assert alive(pid) and client.status(training_id).is_running

        assert client.stop_training(training_id) is True
        status = client.status(training_id)
        assert (status.is_running, status.failed) == (False, True)
        assert "stopped on request" in status.exception
        assert not alive(pid)
        assert client.stop_training(training_id) is False  # already ended: nothing to do

        # the server goes on serving: a normal job after the stopped one trains to the end
        normal = pipeline_config()
        normal["data"]["bytes_parser_function"] = SCALED_BYTES_PARSER
        pipeline_id, trigger_id, _ = services.new_trigger(normal)
        second = client.start_training(pipeline_id, trigger_id, normal, None)
        deadline = time.monotonic() + 90
        while client.status(second).is_running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.status(second).is_done

        with pytest.raises(grpc.RpcError) as info:
            client.stop_training(10_000)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        client.close()
        server.stop(grace_s=1.0)
        for hook in parts.on_shutdown:
            hook()
