import filecmp
import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_match_protos(tmp_path: Path) -> None:
    """Fails when protos/*.proto changed without `python scripts/compile_protos.py`."""
    subprocess.run([sys.executable, str(ROOT / "scripts" / "compile_protos.py"), str(tmp_path)], check=True)
    fresh = tmp_path / "modyn" / "generated"
    committed = ROOT / "modyn" / "generated"
    fresh_files = sorted(p.name for p in fresh.iterdir() if p.is_file())
    committed_files = sorted(p.name for p in committed.iterdir() if p.is_file())
    assert fresh_files == committed_files
    _, mismatch, errors = filecmp.cmpfiles(fresh, committed, fresh_files, shallow=False)
    assert mismatch == [] and errors == [], f"stale stubs {mismatch}: run python scripts/compile_protos.py"


def test_every_service_has_a_proto_and_stub() -> None:
    for service in ["storage", "selector", "trainer_server", "metadata_processor", "model_storage", "evaluator"]:
        assert (ROOT / "protos" / f"{service}.proto").is_file()
        assert importlib.util.find_spec(f"modyn.generated.{service}_pb2_grpc") is not None
