"""System checks for the recommender's settings."""

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from recommender.policies import POLICIES


@register()
def check_tips_policy(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """TIPS_POLICY must name a registered policy: a typo would otherwise fail the first tips request."""
    if settings.TIPS_POLICY in POLICIES:
        return []
    return [
        Error(
            f"TIPS_POLICY={settings.TIPS_POLICY!r} names no policy.",
            hint=f"Use one of: {', '.join(sorted(POLICIES))}.",
            id="recommender.E001",
        )
    ]
