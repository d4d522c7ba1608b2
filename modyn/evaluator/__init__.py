"""The evaluator service: evaluates a stored model on a dataset (optionally a time interval) with named metrics."""
