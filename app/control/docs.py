"""/docs (Swagger UI) and /redoc, served with the copies of their scripts that ship in the
package (app/control/static/vendor, see VENDORED.md): nothing is fetched from the internet, so
they work on an offline laptop or a locked-down CI."""

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.control.console import STATIC

DOCS_ASSETS = "/docs/assets"
# Label Studio's descriptions link images on its own site: the browser is told to load nothing
# but this server's scripts, styles and images, so the pages stay the same offline.
ONLY_THIS_SERVER = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    ]
)


def _offline(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = ONLY_THIS_SERVER
    return page


def install_docs(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets (create the app with docs_url=None, redoc_url=None)."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=STATIC / "vendor"), name="docs-assets")
    favicon = f"{DOCS_ASSETS}/swagger-ui/favicon-32x32.png"

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return _offline(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui/swagger-ui.css",
                swagger_favicon_url=favicon,
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return _offline(
            get_redoc_html(
                openapi_url="/openapi.json",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{DOCS_ASSETS}/redoc/redoc.standalone.js",
                redoc_favicon_url=favicon,
                with_google_fonts=False,
            )
        )
