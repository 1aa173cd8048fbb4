"""Recommender reads; `recent_feedback_by_kind` is the contract generation's prompt context uses."""

from recommender.selectors.history import recent_feedback_by_kind, tips_history

__all__ = ["recent_feedback_by_kind", "tips_history"]
