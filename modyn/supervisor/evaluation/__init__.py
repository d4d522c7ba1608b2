"""What the supervisor evaluates, and when: after each trigger, and after the pipeline the full matrix.

Evaluation strategies (one file each, registered in registry.py) turn triggers into time intervals of
the evaluation datasets; EvaluationRunner (evaluation_runner.py) runs them through the evaluator.
checks.py holds the config checks the schema cannot express (imported by modyn.config; no torch).
"""
