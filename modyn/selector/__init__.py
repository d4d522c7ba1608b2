"""The selector service: per pipeline, remembers the keys it is told about and computes, on each
trigger, the trigger training set (keys + optional weights) with the pipeline's selection strategy,
cut into partitions and split among the trainer's dataloader workers."""
