"""The one user type of the API and the services: the authenticated Django user."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from rest_framework.request import Request


def request_user(request: Request) -> User:
    """The user of a request that passed IsAuthenticated (every API view's default permission).

    DRF types `request.user` as maybe anonymous; past the permission check it never is, so the services take
    a `User` and the views hand it over through here instead of each narrowing the type again.
    """
    return cast(User, request.user)
