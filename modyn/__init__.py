"""Modyn: a platform for training ML models on growing datasets."""

__version__ = "0.1.0"
