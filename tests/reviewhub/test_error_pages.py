"""Error pages keep the site's layout and offer a way back; /favicon.ico is served."""

import uuid

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


def test_a_missing_page_has_the_layout_and_a_way_back(client_for, end_user):
    response = client_for(end_user).get(reverse("chat:conversation", args=[uuid.uuid4()]))
    html = response.content.decode()
    assert response.status_code == 404
    assert 'class="brand"' in html and "Not found" in html
    assert f'href="{reverse("home")}"' in html and "Log out" in html


def test_a_forbidden_page_says_why_in_the_layout(client_for, end_user):
    response = client_for(end_user).get(reverse("datasets:list"))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in html and 'class="brand"' in html


def test_the_server_error_page_needs_no_request_context_and_links_home():
    response = server_error(RequestFactory().get("/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in html and f'href="{reverse("home")}"' in html


def test_favicon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("favicon.svg")
