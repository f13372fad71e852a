"""Security headers on pages, JSON, static files and error responses; the CSP nonce of the
theme's ``<style>``; payment providers' origins in ``form-action``; and which
``X-Forwarded-*`` headers are believed (``FULIAN_TRUSTED_PROXIES``), on both databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import jsonify, request
from flask_limiter.util import get_remote_address

from core import security
from core.config import load_config

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(self), geolocation=(), microphone=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NONCE_STYLE = re.compile(r'<style nonce="([^"]+)">')


def _csp(resp: Any) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: [sources]}."""
    value = resp.headers["Content-Security-Policy"]
    parts = [p.split() for p in value.split(";") if p.strip()]
    return {p[0]: p[1:] for p in parts}


def _assert_headers(resp: Any, *, hsts: bool = False) -> dict[str, list[str]]:
    for name, value in EXPECTED.items():
        assert resp.headers.get(name) == value, (name, resp.request.path)
    assert ("Strict-Transport-Security" in resp.headers) is hsts
    policy = _csp(resp)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no eval
    assert policy["style-src"][0] == "'self'" and len(policy["style-src"]) == 2
    assert policy["style-src"][1].startswith("'nonce-")
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"] and policy["form-action"][0] == "'self'"
    assert policy["img-src"] == ["'self'", "data:", "https:"]
    assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in resp.headers["Content-Security-Policy"]
    return policy


def _add_test_routes(app: Any) -> None:
    """Routes that fail, set their own headers or tell what the app sees of the client."""
    def boom() -> Any:
        raise RuntimeError("a bug")

    def framed() -> Any:
        resp = jsonify(ok=True)
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        return resp

    def whoami() -> Any:
        return jsonify(addr=request.remote_addr, limiter_key=get_remote_address(),
                       secure=request.is_secure, host=request.host, url=request.url_root)

    app.add_url_rule("/test-boom", "test_boom", boom)
    app.add_url_rule("/api/v1/test-boom", "test_api_boom", boom)
    app.add_url_rule("/test-framed", "test_framed", framed)
    app.add_url_rule("/test-whoami", "test_whoami", whoami)


@pytest.fixture
def client(app: Any) -> Any:
    _add_test_routes(app)
    return app.test_client()


def test_a_page_carries_every_header_but_hsts_outside_production(client: Any) -> None:
    resp = client.get("/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    _assert_headers(resp)


def test_json_api_static_files_and_docs_carry_the_headers(client: Any) -> None:
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.mimetype == "application/json"
    _assert_headers(spec)
    denied = client.get("/api/v1/webhooks")
    assert denied.status_code == 401 and denied.mimetype == "application/problem+json"
    _assert_headers(denied)
    css = client.get("/static/css/fulian.css")
    assert css.status_code == 200
    _assert_headers(css)
    css.close()
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    _assert_headers(docs)
    assert "<script>" not in docs.get_data(as_text=True)  # scripts are files only


def test_error_responses_carry_the_headers(client: Any) -> None:
    for path, status, mimetype in (("/no-such-page", 404, "text/html"),
                                   ("/api/v1/no-such-thing", 404, "application/problem+json"),
                                   ("/test-boom", 500, "text/html"),
                                   ("/api/v1/test-boom", 500, "application/problem+json")):
        resp = client.get(path)
        assert (resp.status_code, resp.mimetype) == (status, mimetype), path
        _assert_headers(resp)
        assert "a bug" not in resp.get_data(as_text=True)


def test_hsts_and_the_headers_in_production(make_app: Any) -> None:
    app = make_app(FULIAN_ENV="production", SECRET_KEY="k" * 48)
    _add_test_routes(app)
    client = app.test_client()
    for path in ("/", "/api/v1/openapi.json", "/no-such-page", "/test-boom"):
        resp = client.get(path, base_url="https://shop.example.com")
        _assert_headers(resp, hsts=True)
        assert resp.headers["Strict-Transport-Security"] == \
            "max-age=31536000; includeSubDomains"


def test_the_nonce_is_new_per_request_and_matches_the_style_element(client: Any) -> None:
    seen = set()
    for _ in range(2):
        resp = client.get("/")
        html = resp.get_data(as_text=True)
        styles = NONCE_STYLE.findall(html)
        assert styles, "the theme's <style> must carry the nonce"
        nonce = _csp(resp)["style-src"][1][len("'nonce-"):-1]
        assert set(styles) == {nonce}
        assert len(nonce) >= 16
        assert "<style>" not in html and ' style="' not in html
        seen.add(nonce)
    assert len(seen) == 2


def test_a_header_the_view_set_is_kept(client: Any) -> None:
    resp = client.get("/test-framed")
    assert resp.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert resp.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"  # the others are added


class _Provider:
    def __init__(self, code: str, origins: Any) -> None:
        self.code, self.origins = code, origins


def test_form_action_allows_the_payment_providers_pages(
        client: Any, app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    registry = {"alipay": _Provider("alipay", ("https://openapi.alipay.com/",
                                               "https://*.alipay.com")),
                "wechat": _Provider("wechat", ["https://wx.tenpay.com",
                                               "https://evil.example; script-src *",
                                               "javascript:alert(1)", 42]),
                "bare": object(), "sandbox": _Provider("sandbox", ())}

    def providers() -> dict[str, Any]:
        calls.append(1)
        return registry

    monkeypatch.setattr("core.finance.providers.providers", providers)
    expected = ["https://openapi.alipay.com", "https://*.alipay.com", "https://wx.tenpay.com"]
    assert security.extra_form_origins(app) == expected  # outside a request too
    calls.clear()
    page = client.get("/")
    assert _csp(page)["form-action"] == ["'self'", *expected]
    assert "script-src *" not in page.headers["Content-Security-Policy"]
    assert calls == [1]
    calls.clear()
    api = client.get("/api/v1/openapi.json")  # JSON: form-action is moot, no registry call
    assert _csp(api)["form-action"] == ["'self'"]
    assert calls == []


def test_a_broken_provider_registry_costs_no_page(
        client: Any, app: Any, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("registry is being rebuilt")

    monkeypatch.setattr("core.finance.providers.providers", broken)
    with caplog.at_level("WARNING", logger="core.security"):
        resp = client.get("/")
    assert resp.status_code == 200
    assert _csp(resp)["form-action"] == ["'self'"]
    assert "payment providers' origins" in caplog.text


def test_the_real_provider_registry_gives_the_sandbox_no_origin(app: Any) -> None:
    """The demo's sandbox page is ours: it adds nothing to form-action."""
    assert security.extra_form_origins(app) == []


# --- reverse proxies -------------------------------------------------------------------------

FORWARDED = {"X-Forwarded-For": "198.51.100.9, 203.0.113.7",
             "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com",
             "X-Forwarded-Port": "443"}
PROXY = {"REMOTE_ADDR": "10.0.0.2"}


def test_one_trusted_proxy_gives_the_real_client(make_app: Any) -> None:
    app = make_app(FULIAN_TRUSTED_PROXIES=1)
    _add_test_routes(app)
    seen = app.test_client().get("/test-whoami", headers=FORWARDED, environ_base=PROXY).json
    # The client behind nginx; the address the client itself claimed (198.51.100.9,
    # left of nginx's entry) is not believed.
    assert seen == {"addr": "203.0.113.7", "limiter_key": "203.0.113.7", "secure": True,
                    "host": "shop.example.com", "url": "https://shop.example.com/"}


def test_without_trusted_proxies_forwarded_headers_are_ignored(make_app: Any) -> None:
    app = make_app()
    assert app.config["FULIAN_TRUSTED_PROXIES"] == 0
    _add_test_routes(app)
    seen = app.test_client().get("/test-whoami", headers=FORWARDED, environ_base=PROXY).json
    assert seen == {"addr": "10.0.0.2", "limiter_key": "10.0.0.2", "secure": False,
                    "host": "localhost", "url": "http://localhost/"}


def test_settings_are_read_and_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    base = {"INSTANCE_PATH": str(tmp_path)}
    monkeypatch.setenv("FULIAN_TRUSTED_PROXIES", "2")
    monkeypatch.setenv("FULIAN_WEBHOOK_ALLOWED_NETWORKS", " 10.20.0.0/16, fd00::/8,,10.1.2.3")
    config = load_config(base)
    assert config["FULIAN_TRUSTED_PROXIES"] == 2
    assert config["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] == ["10.20.0.0/16", "fd00::/8",
                                                         "10.1.2.3/32"]
    monkeypatch.setenv("FULIAN_TRUSTED_PROXIES", "6")
    with pytest.raises(ValueError, match="FULIAN_TRUSTED_PROXIES"):
        load_config(base)
    monkeypatch.setenv("FULIAN_TRUSTED_PROXIES", "")
    monkeypatch.setenv("FULIAN_WEBHOOK_ALLOWED_NETWORKS", "10.0.0.0/8, intranet")
    with pytest.raises(ValueError, match="FULIAN_WEBHOOK_ALLOWED_NETWORKS"):
        load_config(base)
    monkeypatch.delenv("FULIAN_WEBHOOK_ALLOWED_NETWORKS")
    assert load_config(base)["FULIAN_WEBHOOK_ALLOWED_NETWORKS"] == []
    assert load_config(base)["FULIAN_TRUSTED_PROXIES"] == 0
