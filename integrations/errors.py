"""The integration's errors: those a client sees (one class per code), and TasksUnavailable for other apps."""

from tipengine.domain_errors import InvalidInput, NotAllowed, NotConfigured, NotFound, TooLarge, UpstreamFailed

RESTART = " Start connecting Todoist again."


class TasksUnavailable(Exception):
    """The user's tasks cannot be read now; `reason` says why (a stable code, safe to show and log).

    Reasons: `not_connected` (no integration), `revoked` (disconnected), `token_invalid` (Todoist refused
    the token: the user must reconnect), `unavailable` (Todoist down, slow or out of budget), `rate_limited`,
    `bad_response` (Todoist answered something unusable), `token_unreadable` (no configured key decrypts it).
    """

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or f"Tasks are unavailable: {reason}.")
        self.reason = reason


class TokenRejected(InvalidInput):
    """Todoist refused the token we were given or were granted: nothing is stored."""

    code = "token_rejected"
    default_message = (
        "Todoist rejected this token. Copy your API token again from Todoist: Settings > Integrations > "
        "Developer, or reconnect with OAuth."
    )


class OAuthStateExpired(InvalidInput):
    code = "oauth_state_expired"
    default_message = "This sign-in has expired." + RESTART


class OAuthStateInvalid(InvalidInput):
    """Not signed by us, or made for another user."""

    code = "oauth_state_invalid"
    default_message = "The OAuth state is not valid." + RESTART


class OAuthStateUsed(InvalidInput):
    code = "oauth_state_used"
    default_message = "This sign-in was already used." + RESTART


class OAuthDenied(InvalidInput):
    """The user did not grant access at Todoist (its callback carried an error or no code)."""

    code = "oauth_denied"
    default_message = "Todoist did not grant access. Start connecting Todoist again to retry."


class OAuthCodeRejected(InvalidInput):
    code = "oauth_code_rejected"
    default_message = "Todoist did not accept the authorization code (expired or already used)." + RESTART


class OAuthExchangeFailed(UpstreamFailed):
    """Todoist could not be reached, or failed, while we exchanged the OAuth code."""

    code = "todoist_unavailable"


class OAuthNotConfigured(NotConfigured):
    code = "oauth_not_configured"
    default_message = (
        "Connecting with OAuth is not configured on this server (TODOIST_CLIENT_ID and TODOIST_CLIENT_SECRET); "
        "connect with a personal API token instead."
    )


class NotConnected(NotFound):
    """There is no Todoist connection to act on (never connected)."""

    code = "not_connected"
    default_message = "Todoist is not connected for this account."


class WebhookTooLarge(TooLarge):
    code = "webhook_too_large"
    default_message = "The webhook body is larger than 1 MiB."


class WebhookSignatureInvalid(NotAllowed):
    code = "webhook_signature_invalid"
    default_message = "The X-Todoist-Hmac-SHA256 signature does not match the body."


class WebhookDeliveryIdMissing(InvalidInput):
    code = "webhook_delivery_id_missing"
    default_message = "X-Todoist-Delivery-ID is required."
