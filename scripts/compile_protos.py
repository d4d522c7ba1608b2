"""Regenerate the Python gRPC stubs in modyn/generated/ from protos/*.proto.

Usage: python scripts/compile_protos.py [OUT_ROOT]
Writes OUT_ROOT/modyn/generated/ (default OUT_ROOT: the repository root). The stubs import each
other as `modyn.generated.<name>_pb2`, because protos/ is mapped onto that virtual folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"


def compile_protos(out_root: Path) -> Path:
    out_dir = out_root / "modyn" / "generated"
    out_dir.mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-Imodyn/generated={PROTO_DIR}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
    ] + [f"modyn/generated/{p.name}" for p in sorted(PROTO_DIR.glob("*.proto"))]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    (out_dir / "__init__.py").write_text('"""Generated gRPC stubs: run scripts/compile_protos.py, never edit."""\n')
    return out_dir


if __name__ == "__main__":
    compile_protos(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT)
