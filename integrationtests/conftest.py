"""The cluster the integration tests run against.

By default each test module's tests run twice: against a cluster of real service processes started
here (`modyn-cluster`) on SQLite, and one on PostgreSQL (MODYN_POSTGRES_URL). With
MODYN_CLUSTER_CONFIG=/path/system.yaml they run once, against that running cluster (e.g. the docker
compose one); MODYN_CLUSTER_DATA_DIR then names a folder that the tests write dataset files to and
that the cluster's storage service reads at the same path.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from integrationtests.cluster_support import ClusterHandle, RunningCluster, system_config
from modyn.common.testing import create_postgres_database, drop_postgres_database, postgres_unavailable_reason
from modyn.config import load_system_config

EXTERNAL = os.environ.get("MODYN_CLUSTER_CONFIG")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cluster" in metafunc.fixturenames:
        backends = ["external"] if EXTERNAL else ["sqlite", "postgresql"]
        metafunc.parametrize("cluster", backends, indirect=True, scope="session")


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterHandle]:
    backend = request.param
    if backend == "external":
        assert EXTERNAL is not None
        data_dir = Path(os.environ.get("MODYN_CLUSTER_DATA_DIR", tmp_path_factory.mktemp("data")))
        data_dir = data_dir / uuid.uuid4().hex[:8]
        data_dir.mkdir(parents=True)
        yield ClusterHandle(load_system_config(EXTERNAL), Path(EXTERNAL), data_dir)
        return
    workdir = tmp_path_factory.mktemp(f"cluster_{backend}")
    created = []
    if backend == "sqlite":
        storage_db = {"drivername": "sqlite", "database": str(workdir / "storage.db")}
        metadata_db = {"drivername": "sqlite", "database": str(workdir / "metadata.db")}
    else:
        reason = postgres_unavailable_reason()
        if reason is not None:
            if os.environ.get("MODYN_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"MODYN_REQUIRE_POSTGRES=1 but {reason}")
            pytest.skip(reason)
        storage_db = create_postgres_database("modyn_it_storage")
        metadata_db = create_postgres_database("modyn_it_meta")
        created = [storage_db, metadata_db]
    data_dir = workdir / "data"
    data_dir.mkdir()
    running = RunningCluster(system_config(workdir, storage_db, metadata_db, data_dir), workdir)
    try:
        yield ClusterHandle(running.config, running.path, data_dir, running)
    finally:
        code = running.stop()
        for db in created:
            drop_postgres_database(db)
        assert code == 0, f"modyn-cluster exited with {code}:\n{running.logs()}"
