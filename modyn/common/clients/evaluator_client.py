from __future__ import annotations

import json
from typing import Any

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import SHORT_DEADLINE_S
from modyn.generated import evaluator_pb2 as pb
from modyn.generated.evaluator_pb2_grpc import EvaluatorStub


class EvaluationNotStartedError(RuntimeError):
    """The evaluator did not start an evaluation; `reason` is EMPTY_DATASET, MODEL_NOT_FOUND or DATASET_NOT_FOUND."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class EvaluatorClient(LazyStubClient):
    stub_class = EvaluatorStub

    def start_evaluation(
        self,
        model_id: int,
        dataset: dict[str, Any],
        device: str,
        interval: tuple[int, int] | None = None,
    ) -> int:
        """`dataset` is one entry of the pipeline's evaluation.datasets. Returns the evaluation id.

        Raises EvaluationNotStartedError (with the reason) when the evaluator did not start it.
        """
        request = pb.EvaluateModelRequest(
            model_id=model_id,
            dataset_id=dataset["dataset_id"],
            bytes_parser_function=dataset["bytes_parser_function"],
            label_transformer_function=dataset.get("label_transformer_function", ""),
            batch_size=dataset.get("batch_size", 256),
            device=device,
            metrics=[json.dumps(m) for m in dataset["metrics"]],
            has_interval=interval is not None,
            start_timestamp=interval[0] if interval else 0,
            end_timestamp=interval[1] if interval else 0,
            evaluation_transformer_function=dataset.get("evaluation_transformer_function", ""),
            transformations=json.dumps(dataset.get("transformations") or []),
        )
        response = self.stub.EvaluateModel(request, timeout=SHORT_DEADLINE_S)
        if not response.evaluation_started:
            reason = pb.EvaluationNotStartReason.Name(response.not_start_reason)
            raise EvaluationNotStartedError(
                reason,
                response.message or f"evaluator did not start evaluating model {model_id} on {dataset['dataset_id']}",
            )
        return int(response.evaluation_id)

    def result(self, evaluation_id: int) -> pb.EvaluationResultResponse:
        return self.stub.GetEvaluationResult(
            pb.EvaluationResultRequest(evaluation_id=evaluation_id), timeout=SHORT_DEADLINE_S
        )
