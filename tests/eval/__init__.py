"""Answer-quality evaluation (``make eval``) and its baselines."""
