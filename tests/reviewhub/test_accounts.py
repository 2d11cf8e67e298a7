import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from reviewhub.roles import is_expert, is_lead


@pytest.mark.django_db
def test_create_user_prints_a_generated_password_that_works(capsys):
    call_command("create_user", "nina", "--role", "expert")
    out = capsys.readouterr().out
    password = out.split("Password: ")[1].strip()
    user = User.objects.get(username="nina")
    assert user.check_password(password)
    assert is_expert(user) and not is_lead(user)


@pytest.mark.django_db
def test_create_user_with_given_password_does_not_print_it(capsys):
    call_command("create_user", "leah", "--role", "lead", "--password", "s3cret-pass")
    assert "s3cret-pass" not in capsys.readouterr().out
    assert User.objects.get(username="leah").check_password("s3cret-pass")


@pytest.mark.django_db
def test_create_user_refuses_duplicates_and_unknown_roles(end_user):
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", end_user.username, "--role", "end_user")
    with pytest.raises(CommandError):
        call_command("create_user", "zed", "--role", "admin")


@pytest.mark.django_db
def test_every_page_but_login_and_healthz_needs_a_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.get(reverse("login")).status_code == 200


@pytest.mark.django_db
def test_navigation_shows_each_role_what_it_may_use(client_for, end_user, expert, lead):
    page = client_for(end_user).get(reverse("home")).content.decode()
    assert 'href="/chat/"' in page and 'href="/review/"' not in page
    assert 'href="/releases/"' not in page
    page = client_for(expert).get(reverse("home")).content.decode()
    assert 'href="/review/"' in page and 'href="/releases/"' not in page
    page = client_for(lead).get(reverse("home")).content.decode()
    assert 'href="/releases/"' in page and 'href="/graph/analytics/"' in page


@pytest.mark.django_db
def test_login_and_logout_through_the_forms(client, end_user):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-alice"})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.django_db
def test_wrong_password_says_so(client, end_user):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert b"didn't match" in response.content


@pytest.mark.django_db
def test_base_template_sends_csrf_with_htmx_and_serves_htmx_locally(client_for, end_user):
    page = client_for(end_user).get(reverse("home")).content.decode()
    assert 'hx-headers=\'{"x-csrftoken": "' in page
    assert "/static/django_htmx/htmx" in page and "unpkg" not in page and "cdn" not in page
