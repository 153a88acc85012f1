"""/docs and /redoc: every script, style and image they name is served by the emulator itself,
and the browser is told to load nothing from anywhere else."""

import re

import httpx
import pytest

POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


@pytest.mark.parametrize(
    ("path", "title", "assets"),
    [
        ("/docs", "Swagger UI", {"/docs/assets/swagger-ui/swagger-ui-bundle.js",
                                 "/docs/assets/swagger-ui/swagger-ui.css",
                                 "/docs/assets/swagger-ui/favicon-32x32.png"}),
        ("/redoc", "ReDoc", {"/docs/assets/redoc/redoc.standalone.js",
                             "/docs/assets/swagger-ui/favicon-32x32.png"}),
    ],
)  # fmt: skip
def test_docs_pages_load_only_this_servers_assets(
    control: httpx.Client, path: str, title: str, assets: set[str]
) -> None:
    page = control.get(path)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["Content-Security-Policy"] == POLICY
    assert re.search(rf"<title>[^<]* - {title}</title>", page.text)
    named = set(re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text))
    named |= set(re.findall(r"""url: ?["']([^"']+)["']""", page.text))
    named |= set(re.findall(r"""spec-url=["']([^"']+)["']""", page.text))
    assert assets <= named
    assert "/openapi.json" in page.text
    for asset in named - {"/openapi.json"}:
        assert asset.startswith("/docs/assets/"), asset
        assert control.get(asset).status_code == 200, asset
    assert "fonts.googleapis" not in page.text


@pytest.mark.parametrize(
    ("path", "title", "spec"),
    [
        ("/docs", "Swagger UI", "url: '/openapi.json'"),
        ("/redoc", "ReDoc", 'spec-url="/openapi.json"'),
    ],
)
def test_docs_pages_are_titled_after_the_api_and_read_its_definition(
    control: httpx.Client, path: str, title: str, spec: str
) -> None:
    page = control.get(path).text
    assert f"<title>Label Studio Enterprise Prompts API (lse-emulator) - {title}</title>" in page
    assert spec in page
    assert 'href="/docs/assets/swagger-ui/favicon-32x32.png"' in page


def test_the_console_page_and_its_assets_are_served_without_caching_the_page(
    control: httpx.Client,
) -> None:
    page = control.get("/")
    assert (page.status_code, page.headers["Cache-Control"]) == (200, "no-cache")
    assert page.headers["content-type"].startswith("text/html")
    for asset, kind in [("console.js", "javascript"), ("console.css", "text/css")]:
        assert f"/_emulator/console/{asset}" in page.text
        served = control.get(f"/_emulator/console/{asset}")
        assert served.status_code == 200 and kind in served.headers["content-type"], asset
