from __future__ import annotations

import json
from typing import Any

from modyn.common.clients._base import LazyStubClient
from modyn.common.grpc_utils import LONG_DEADLINE_S, SHORT_DEADLINE_S
from modyn.generated import trainer_server_pb2 as pb
from modyn.generated.trainer_server_pb2_grpc import TrainerServerStub


class TrainerServerClient(LazyStubClient):
    stub_class = TrainerServerStub

    def start_training(
        self, pipeline_id: int, trigger_id: int, pipeline_config: dict[str, Any], previous_model_id: int | None
    ) -> int:
        request = pb.StartTrainingRequest(
            pipeline_id=pipeline_id,
            trigger_id=trigger_id,
            pipeline_config=json.dumps(pipeline_config),
            previous_model_id=-1 if previous_model_id is None else previous_model_id,
        )
        response = self.stub.StartTraining(request, timeout=SHORT_DEADLINE_S)
        if not response.training_started:
            raise RuntimeError(f"trainer server did not start training for trigger {trigger_id}")
        return int(response.training_id)

    def status(self, training_id: int) -> pb.TrainingStatusResponse:
        return self.stub.GetTrainingStatus(pb.TrainingStatusRequest(training_id=training_id), timeout=SHORT_DEADLINE_S)

    def stop_training(self, training_id: int) -> bool:
        """Stop a running job; True when it was running (False: it had already ended)."""
        return bool(
            self.stub.StopTraining(pb.StopTrainingRequest(training_id=training_id), timeout=SHORT_DEADLINE_S).stopped
        )

    def store_final_model(self, training_id: int) -> int:
        response = self.stub.StoreFinalModel(
            pb.StoreFinalModelRequest(training_id=training_id), timeout=LONG_DEADLINE_S
        )
        if not response.valid_state:
            raise RuntimeError(f"training {training_id} has no final model to store")
        return int(response.model_id)
