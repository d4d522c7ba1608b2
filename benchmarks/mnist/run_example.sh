#!/usr/bin/env bash
# The MNIST example end to end on the embedded default (SQLite, no Docker):
# set up .venv, write the example data, start modyn-cluster, replay the pipeline with
# modyn-supervisor (experiment mode), print the per-trigger summary, stop the cluster.
# Logs: modyn_logs/ (pipeline log, its PNG report modyn_logs/pipeline_<id>/report.png, and each
# service's log). Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
. scripts/setup_venv.sh
python benchmarks/mnist/generate_data.py --out example_data/mnist

SYSTEM=benchmarks/mnist/system_sqlite.yaml
mkdir -p modyn_logs
modyn-cluster "$SYSTEM" --log-dir modyn_logs/cluster > modyn_logs/cluster.out 2>&1 &
cluster_pid=$!
trap 'kill -TERM $cluster_pid 2>/dev/null; wait $cluster_pid 2>/dev/null || true' EXIT
echo "Starting the Modyn services (modyn-cluster, logs in modyn_logs/cluster/)..."
until grep -q "all services are up" modyn_logs/cluster.out 2>/dev/null; do
  if ! kill -0 $cluster_pid 2>/dev/null; then
    cat modyn_logs/cluster.out >&2
    echo "modyn-cluster failed to start" >&2
    exit 1
  fi
  sleep 0.5
done
cat modyn_logs/cluster.out
modyn-supervisor benchmarks/mnist/pipeline.yaml "$SYSTEM" --start-replay-at 0 --log-dir modyn_logs
