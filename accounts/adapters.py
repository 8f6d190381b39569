"""allauth adapters: GitHub is the only way in, and a first sign-in creates a personal org."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialLogin
from django.db import transaction
from django.http import HttpRequest

from accounts.audit import audit
from accounts.models import Membership, User
from accounts.services import organization_ensure_personal


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        # No local passwords: accounts are created through GitHub only.
        return False

    def login(self, request: HttpRequest, user: Any) -> None:
        """Sign in, and say so in the audit log of each of the person's organizations."""
        super().login(request, user)
        with transaction.atomic():
            for organization_id in Membership.objects.filter(user=user).values_list(
                "organization_id", flat=True
            ):
                audit(organization_id, "user.signed_in", target=user, actor=user)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def save_user(self, request: HttpRequest, sociallogin: SocialLogin, form: Any = None) -> User:
        user: User = super().save_user(request, sociallogin, form)
        organization_ensure_personal(user=user)
        return user
