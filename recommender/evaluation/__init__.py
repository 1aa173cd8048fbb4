"""Offline evaluation of policies from tip_scores, and a simulator of synthetic users (docs/evaluation.md)."""
