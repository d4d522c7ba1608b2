"""`modyn-cluster`: the embedded default — every service as a child process on this machine."""
