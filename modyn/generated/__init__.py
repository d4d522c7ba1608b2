"""Generated gRPC stubs: run scripts/compile_protos.py, never edit."""
