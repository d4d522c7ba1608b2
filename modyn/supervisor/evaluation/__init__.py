"""What the supervisor evaluates, and when: after each trigger (and, later, after the pipeline)."""
