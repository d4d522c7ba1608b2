"""The evaluation matrix: every model of a pipeline on every interval, per dataset and metric, and its heatmap.

Rows are the pipeline's models in trigger order, columns the intervals of the matrix strategy. A cell
is null when the model could not be evaluated there (the reason is listed in `notes`, e.g. an empty
interval). Inspired by the evaluation matrices of Modyn (Böther et al., SIGMOD 2025).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from modyn.supervisor.evaluation.eval_strategy import Interval

#: (row, column, dataset id) → metric → value, or the reason there is none.
Cells = dict[tuple[int, int, str], dict[str, float] | str]


def build_matrix(
    models: list[dict[str, Any]], intervals: list[Interval], dataset_ids: list[str], cells: Cells
) -> dict[str, Any]:
    """The matrix as it goes into the pipeline log."""
    results: dict[str, dict[str, list[list[float | None]]]] = {}
    notes: list[str] = []
    for dataset_id in dataset_ids:
        metric_names: list[str] = []
        for (_, _, ds), cell in cells.items():
            if ds == dataset_id and isinstance(cell, dict):
                metric_names += [m for m in cell if m not in metric_names]
        per_metric: dict[str, list[list[float | None]]] = {}
        for metric in metric_names:
            rows: list[list[float | None]] = []
            for row in range(len(models)):
                values: list[float | None] = []
                for column in range(len(intervals)):
                    found = cells.get((row, column, dataset_id))
                    values.append(found.get(metric) if isinstance(found, dict) else None)
                rows.append(values)
            per_metric[metric] = rows
        results[dataset_id] = per_metric
    for (row, column, dataset_id), cell in sorted(cells.items()):
        if isinstance(cell, str):
            start, end = intervals[column]
            notes.append(f"model {models[row]['model_id']} on {dataset_id} [{start}, {end}]: {cell}")
    return {
        "models": models,
        "intervals": [list(i) for i in intervals],
        "results": results,
        "notes": notes,
    }


def heatmap_name(dataset_id: str, metric: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{dataset_id}_{metric}")
    return f"evaluation_matrix_{safe}.png"


def draw_heatmaps(matrix: dict[str, Any], folder: Path) -> list[str]:
    """One PNG per dataset and metric into `folder`; returns the file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names: list[str] = []
    row_labels = [f"t{m['trigger_index']} (model {m['model_id']})" for m in matrix["models"]]
    column_labels = [f"{start}..{end}" for start, end in matrix["intervals"]]
    for dataset_id, per_metric in matrix["results"].items():
        for metric, rows in per_metric.items():
            values = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
            width = max(4.0, 1.1 * len(column_labels) + 2.5)
            height = max(3.0, 0.6 * len(row_labels) + 1.8)
            figure, axes = plt.subplots(figsize=(width, height))
            image = axes.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto")
            figure.colorbar(image, ax=axes, label=metric)
            axes.set_xticks(range(len(column_labels)), column_labels, rotation=45, ha="right", fontsize=8)
            axes.set_yticks(range(len(row_labels)), row_labels, fontsize=8)
            axes.set_xlabel("evaluation interval (sample timestamps)")
            axes.set_ylabel("model (trigger)")
            axes.set_title(f"{metric} on {dataset_id}")
            if values.size <= 400:
                for (r, c), v in np.ndenumerate(values):
                    if not np.isnan(v):
                        axes.text(c, r, f"{v:.3f}", ha="center", va="center", color="white", fontsize=7)
            figure.tight_layout()
            name = heatmap_name(dataset_id, metric)
            temp = folder / f".{name}.tmp.png"
            figure.savefig(temp, dpi=100)
            plt.close(figure)
            temp.replace(folder / name)
            names.append(name)
    return names
