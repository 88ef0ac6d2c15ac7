"""The start page at `/` and the API reference it links, served without a CDN or a key."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from tests.html import parse

pytestmark = pytest.mark.django_db

DOCS = ["/api/v1/docs/", "/api/v1/redoc/"]


def test_the_start_page_links_the_admin_the_portal_and_the_api_reference(client):
    response = client.get("/")

    assert response.status_code == 200
    page = parse(response.content)
    hrefs = {a.attrs.get("href") for a in page.find_all("a")}
    assert {"/admin/", "/portal/", "/api/v1/docs/", "/api/v1/redoc/", "/api/v1/schema/"} <= hrefs
    assert page.find("title").text


@pytest.mark.parametrize("url", DOCS)
def test_the_api_reference_opens_without_a_key_and_serves_its_assets_locally(url):
    response = Client().get(url)  # no session, no API key

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert not re.search(r"(?:src|href)\s*=\s*[\"']?(?:https?:)?//", html), "a CDN asset"
    page = parse(html)
    assets = [s.attrs["src"] for s in page.find_all("script", src=True)] + [
        link.attrs["href"] for link in page.find_all("link", href=True)
    ]
    assert any("drf_spectacular_sidecar" in asset for asset in assets), assets
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file"
    assert "/api/v1/schema/" in html  # where the page loads the schema from


def test_the_schema_the_reference_loads_is_readable_without_a_key():
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi")

    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")
