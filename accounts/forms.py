from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts.login_limits import (
    client_ip,
    login_failure_record,
    login_failures_clear,
    login_locked,
)


class RateLimitedLoginMixin:
    """Refuse a login, even with the right password, after too many failures."""

    rate_limited = False

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_ip(self.request)
        if login_locked(username=username, ip=ip):
            login_failure_record(username=username, ip=ip)  # a continued attack stays locked
            self.rate_limited = True
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_S // 60)
            raise forms.ValidationError(
                "Too many failed login attempts for this username from your address. "
                f"Logging in is blocked for {minutes} minutes after the last attempt; "
                "wait and try again, or ask an administrator to reset your password.",
                code="rate_limited",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            login_failure_record(username=username, ip=ip)
            raise
        login_failures_clear(username=username, ip=ip)
        return cleaned


class LoginForm(RateLimitedLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass
