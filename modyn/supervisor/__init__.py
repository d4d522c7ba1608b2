"""The supervisor: drives a pipeline (replay or live data → triggers → training → evaluation)."""
