"""The recommender's errors a client sees: feedback on a tip, and an operator's model promotion."""

from tipengine.domain_errors import Conflict, KeyReused, NotFound


class TipNotFound(NotFound):
    """No such tip, or someone else's: ids reveal nothing."""

    code = "not_found"


class IdempotencyKeyReused(KeyReused):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request; use a new key for a new request."


class AlreadyFinal(Conflict):
    """The tip's reward is final: feedback can no longer change it."""

    code = "already_final"
    default_message = "This tip's reward is already final, so feedback can no longer change it."


class WindowClosed(Conflict):
    """The tip's feedback window has closed; its reward is being finalized."""

    code = "window_closed"
    default_message = "This tip's feedback window has closed; its reward is being finalized."


class ModelNotFound(NotFound):
    """No policy model version with this id (manage.py promote_policy)."""

    code = "model_not_found"


class PromotionRefused(Conflict):
    """The promotion gate refused the model version; nothing changed (manage.py promote_policy)."""

    code = "promotion_refused"
