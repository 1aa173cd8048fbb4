"""The tip pipeline: assemble candidates, score them with a bandit policy, serve, learn from feedback."""
