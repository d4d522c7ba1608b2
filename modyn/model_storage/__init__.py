"""Model storage: keeps every trained model, by model id, as a checksummed file plus a metadata row."""
