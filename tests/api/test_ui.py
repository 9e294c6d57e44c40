"""The page at /ui/: shipped files only, strict CSP and anti-framing headers, no key needed."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from api.ui import STATIC


def test_page_and_its_files_are_served_with_security_headers(client: FlaskClient) -> None:
    for path in ("/ui/", "/ui/app.js", "/ui/api.js", "/ui/render.js", "/ui/app.css"):
        response = client.get(path)
        response.close()
        assert response.status_code == 200, path
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/ui/app.js") as script:
        assert script.mimetype == "text/javascript"


def test_bare_ui_redirects_and_unknown_files_are_404_with_headers(client: FlaskClient) -> None:
    assert client.get("/ui").headers["Location"].endswith("/ui/")
    for path in ("/ui/nothing.js", "/ui/..%2f__init__.py", "/ui/../api/__init__.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "import" not in response.get_data(as_text=True)
    assert client.get("/ui/missing").headers["X-Frame-Options"] == "DENY"


def test_shipped_files_have_no_inline_script_style_or_outside_origin() -> None:
    html = (STATIC / "index.html").read_text()
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="app.js">']
    assert "<style" not in html and " style=" not in html
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    for path in STATIC.iterdir():
        text = path.read_text().replace('xmlns="http://www.w3.org/2000/svg"', "")  # a name only
        assert not re.search(r"https?://", text), f"{path.name} names an outside origin"
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path.name
        assert "document.write" not in text, path.name


def test_api_answers_carry_no_ui_headers(client: FlaskClient) -> None:
    assert "Content-Security-Policy" not in client.get("/healthz").headers
