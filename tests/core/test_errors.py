"""Errors never leak tracebacks: themed pages for people, problem+json for the API."""

from __future__ import annotations

from flask import Blueprint

from core.errors import ValidationFailed


def _app_with_failing_routes(make_app):
    bp = Blueprint("boom", __name__)

    @bp.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    @bp.get("/api/v1/boom")
    def api_boom():
        raise RuntimeError("secret internals")

    @bp.get("/api/v1/invalid")
    def api_invalid():
        raise ValidationFailed("The input is not valid.", field_errors={"name": ["Too long"]})

    app = make_app()
    app.register_blueprint(bp)
    return app


def test_unexpected_error_page_has_no_traceback(make_app):
    app = _app_with_failing_routes(make_app)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client = app.test_client()
    resp = client.get("/boom", headers={"Accept-Language": "en"})
    assert resp.status_code == 500
    assert b"secret internals" not in resp.data and b"Traceback" not in resp.data
    resp = client.get("/api/v1/boom", headers={"Accept-Language": "en"})
    assert resp.status_code == 500
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 500
    assert "secret internals" not in resp.get_data(as_text=True)


def test_domain_error_is_problem_json_with_field_errors(make_app):
    client = _app_with_failing_routes(make_app).test_client()
    resp = client.get("/api/v1/invalid", headers={"Accept-Language": "en"})
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["errors"] == {"name": ["Too long"]}
    assert body["title"] and body["type"]


def test_404_page_is_translated(app):
    client = app.test_client()
    zh = client.get("/no/such/page", headers={"Accept-Language": "zh-CN"})
    en = client.get("/no/such/page", headers={"Accept-Language": "en"})
    assert zh.status_code == en.status_code == 404
    assert "Page not found" in en.get_data(as_text=True)
    assert "Page not found" not in zh.get_data(as_text=True)
    api = client.get("/api/v1/nothing")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
