"""The metadata processor: persists per-trigger and per-sample training metadata (e.g. loss)."""
