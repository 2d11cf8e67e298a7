"""Login attempts are limited per username and address; passwords must be strong."""

import itertools

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

# The counts live in the shared cache, which outlives one test: each test its own address.
_addresses = (f"203.0.113.{n}" for n in itertools.count(1))


@pytest.fixture
def ip():
    return next(_addresses)


@pytest.fixture(autouse=True)
def low_limit(settings):
    settings.LOGIN_FAILURE_LIMIT = 3  # each failure costs a password hash (~0.3 s)


def attempt(client, password: str, ip: str, username: str = "alice"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip
    )


@pytest.mark.django_db
def test_after_100_wrong_passwords_the_right_one_does_not_log_in(client, end_user, ip):
    for _ in range(100):
        assert attempt(client, "guess", ip).status_code == 200
    response = attempt(client, "pw-alice", ip)
    assert response.status_code == 200, "no redirect: not logged in"
    assert b"Too many failed login attempts" in response.content
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_the_lock_is_per_username_and_address(client, end_user, other_user, settings, ip):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        attempt(client, "guess", ip)
    # The owner, from their own address, still gets in; so does another user from the same one.
    assert attempt(client, "pw-alice", ip=next(_addresses)).status_code == 302
    client.post(reverse("logout"))
    assert attempt(client, "pw-mallory", ip, username="mallory").status_code == 302


@pytest.mark.django_db
def test_a_few_wrong_passwords_then_the_right_one_logs_in_and_resets_the_count(
    client, end_user, settings, ip
):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        attempt(client, "guess", ip)
    assert attempt(client, "pw-alice", ip).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        attempt(client, "guess", ip)
    assert attempt(client, "pw-alice", ip).status_code == 302


@pytest.mark.django_db
def test_the_admin_login_is_limited_too(client, settings, ip):
    User.objects.create_superuser("root", password="a-long-admin-password")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "root", "password": "guess"}, REMOTE_ADDR=ip)
    response = client.post(
        "/admin/login/",
        {"username": "root", "password": "a-long-admin-password"},
        REMOTE_ADDR=ip,
    )
    assert response.status_code == 200
    assert b"Too many failed login attempts" in response.content


@pytest.mark.django_db
def test_behind_a_proxy_the_address_comes_from_x_forwarded_for(client, end_user, settings, ip):
    settings.FORWARDED_FOR_PROXIES = 1
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"username": "alice", "password": "guess"},
            HTTP_X_FORWARDED_FOR=ip,
            REMOTE_ADDR="10.0.0.2",
        )
    # Another client behind the same proxy is not locked out.
    response = client.post(
        reverse("login"),
        {"username": "alice", "password": "pw-alice"},
        HTTP_X_FORWARDED_FOR="192.0.2.10",
        REMOTE_ADDR="10.0.0.2",
    )
    assert response.status_code == 302


@pytest.mark.django_db
def test_create_user_refuses_a_weak_password_and_creates_nothing():
    with pytest.raises(CommandError, match="too common|too short"):
        call_command("create_user", "weak", "--role", "end_user", "--password", "password")
    assert not User.objects.filter(username="weak").exists()
