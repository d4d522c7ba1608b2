"""Errors the selector manager raises; the servicer maps them to gRPC status codes."""

from __future__ import annotations


class SelectorNotFoundError(KeyError):
    """A pipeline, trigger or partition that does not exist (gRPC NOT_FOUND).

    A KeyError so callers can treat it like a failed lookup, but with a readable message
    (KeyError's own str() would wrap the message in quotes).
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UnknownPipelineError(SelectorNotFoundError):
    def __init__(self, pipeline_id: int) -> None:
        super().__init__(f"pipeline {pipeline_id} is not registered")
        self.pipeline_id = pipeline_id


class UnknownTriggerError(SelectorNotFoundError):
    def __init__(self, pipeline_id: int, trigger_id: int) -> None:
        super().__init__(f"trigger {trigger_id} of pipeline {pipeline_id} does not exist")
        self.pipeline_id = pipeline_id
        self.trigger_id = trigger_id


class UnknownPartitionError(SelectorNotFoundError):
    def __init__(self, pipeline_id: int, trigger_id: int, partition_id: int, num_partitions: int) -> None:
        super().__init__(
            f"partition {partition_id} of trigger {trigger_id} of pipeline {pipeline_id} does not exist "
            f"(the trigger has {num_partitions} partition(s))"
        )
        self.partition_id = partition_id
