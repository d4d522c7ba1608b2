"""The trainer server: one training job per trigger, each in its own spawned process."""
