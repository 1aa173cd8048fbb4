"""Recommender services: the writes (serving, feedback, rewards, arm statistics)."""
