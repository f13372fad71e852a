"""fulian_settings_schema: the back-office page and the API drawn from a plugin's
schema, validated by it, stored per deployment and read back with plugin_settings()."""

from __future__ import annotations

import re
from typing import Any

import pytest

from core.audit import acting_as
from core.db import write_transaction
from core.errors import NotFound, ValidationFailed
from core.extensions import db
from core.models import AuditEntry, PluginSettings
from core.org.stores import create_store
from core.plugins import plugin_settings, save_plugin_settings
from tests.core.factories import PASSWORD, bearer, make_user

OWNER, ADMIN, MANAGER = "o@example.com", "a@example.com", "m@example.com"
PAGE = "/admin/plugins/contract/settings"
API = "/api/v1/plugins/contract/settings"
DEFAULTS = {"greeting": "hi", "max_notes": 10, "loud": False, "colour": "red"}


def _csrf(client: Any, url: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(url).get_data(as_text=True))
    assert found, url
    return found.group(1)


def _page_client(app: Any, login: str) -> Any:
    client = app.test_client()
    resp = client.post("/login", data={"login": login, "password": PASSWORD,
                                       "csrf_token": _csrf(client, "/login")})
    assert resp.status_code == 302
    return client


def _token(app: Any, login: str) -> dict[str, str]:
    resp = app.test_client().post("/api/v1/auth/token",
                                  json={"login": login, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    return bearer(resp.get_json()["token"])


def _stored(app: Any) -> dict[str, Any]:
    with app.app_context():
        return plugin_settings("contract")


@pytest.fixture
def site(app: Any) -> Any:
    with app.app_context(), acting_as(None, "test"):
        create_store({"code": "n", "name": "North", "timezone": "Asia/Shanghai"})
        make_user(OWNER, "owner")
        make_user(ADMIN, "brand_admin")
        make_user(MANAGER, "store_manager", stores=["n"])
        app.extensions["fulian_plugins"].set_enabled("contract", True)
    return app


def test_hook_fulian_settings_schema(site: Any) -> None:
    app = site
    owner = _page_client(app, OWNER)
    assert f'href="{PAGE}"' in owner.get("/admin/plugins").get_data(as_text=True)

    # drawn from the schema: labels, help, current values (defaults), each kind of field
    html = owner.get(PAGE).get_data(as_text=True)
    assert "Contract settings" in html and "Said on the contract page." in html
    assert 'name="greeting" type="text" value="hi"' in html
    assert 'name="max_notes" type="number" value="10"' in html
    assert 'type="checkbox" name="loud"' in html and "Shout" in html
    assert '<option value="red" selected>Red</option>' in html
    assert '<option value="blue">Blue</option>' in html

    # refused values: the form again (422), each field's message, what was typed kept
    resp = owner.post(PAGE, data={"csrf_token": _csrf(owner, PAGE), "greeting": "yo",
                                  "max_notes": "500", "colour": "green"})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'id="max_notes-error"' in html and 'id="colour-error"' in html
    assert 'value="500"' in html and 'value="yo"' in html
    assert _stored(app) == DEFAULTS
    resp = owner.post(PAGE, data={"csrf_token": _csrf(owner, PAGE), "max_notes": "many"})
    assert resp.status_code == 422 and 'id="max_notes-error"' in resp.get_data(as_text=True)

    # no CSRF token: refused, nothing saved
    assert owner.post(PAGE, data={"greeting": "x"}).status_code == 400
    assert _stored(app) == DEFAULTS

    # good values: saved (and audited), read back by the plugin
    resp = owner.post(PAGE, data={"csrf_token": _csrf(owner, PAGE), "greeting": "hello",
                                  "max_notes": "12", "loud": "1", "colour": "blue"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(PAGE)
    assert _stored(app) == {"greeting": "hello", "max_notes": 12, "loud": True,
                            "colour": "blue"}
    with app.app_context():
        entry = db.session.query(AuditEntry).filter_by(entity_type="plugin_settings").one()
        assert entry.actor.startswith("user:") and entry.after["data"]["greeting"] == "hello"
    html = owner.get(PAGE).get_data(as_text=True)
    assert 'value="hello"' in html and 'name="loud" value="1" checked' in html
    # an unticked box is "no"; a blank number takes the default
    owner.post(PAGE, data={"csrf_token": _csrf(owner, PAGE), "greeting": "hello",
                           "max_notes": "", "colour": "blue"})
    assert _stored(app) == {"greeting": "hello", "max_notes": 10, "loud": False,
                            "colour": "blue"}

    # the API: same schema, problem+json 422 per field, PUT replaces the whole section
    for who in (OWNER, ADMIN):
        resp = app.test_client().get(API, headers=_token(app, who))
        assert resp.status_code == 200
        assert resp.get_json() == {"plugin": "contract", "section": "Contract settings",
                                   "settings": _stored(app)}
    headers = _token(app, ADMIN)
    resp = app.test_client().put(API, json={"max_notes": 0, "colour": "green", "nope": 1},
                                 headers=headers)
    assert resp.status_code == 422 and resp.content_type == "application/problem+json"
    assert set(resp.get_json()["errors"]) == {"max_notes", "colour", "nope"}
    assert _stored(app)["greeting"] == "hello"
    resp = app.test_client().put(API, json={"greeting": "from api", "max_notes": 5},
                                 headers=headers)
    assert resp.status_code == 200
    want = {"greeting": "from api", "max_notes": 5, "loud": False, "colour": "red"}
    assert resp.get_json()["settings"] == want == _stored(app)

    # others: 403 on page and API (anonymous API callers 401); nothing changes
    manager = _page_client(app, MANAGER)
    assert manager.get(PAGE).status_code == 403
    assert manager.post(PAGE, data={"csrf_token": _csrf(manager, "/admin/"),
                                    "greeting": "x"}).status_code == 403
    headers = _token(app, MANAGER)
    assert app.test_client().get(API, headers=headers).status_code == 403
    assert app.test_client().put(API, json={"greeting": "x"},
                                 headers=headers).status_code == 403
    assert app.test_client().get(API).status_code == 401
    assert _stored(app) == want

    # disabled (data kept) or unknown: 404
    with app.app_context():
        app.extensions["fulian_plugins"].set_enabled("contract", False)
    assert owner.get(PAGE).status_code == 404
    assert owner.get("/admin/plugins/nope/settings").status_code == 404
    assert app.test_client().get(API, headers=_token(app, OWNER)).status_code == 404
    assert f'href="{PAGE}"' not in owner.get("/admin/plugins").get_data(as_text=True)
    assert _stored(app) == want


def test_plugin_settings_fills_defaults_and_survives_a_changed_schema(app: Any) -> None:
    with app.app_context():
        assert plugin_settings("contract") == DEFAULTS  # nothing saved yet, disabled too
        with pytest.raises(NotFound):
            plugin_settings("beauty")  # no schema
        with pytest.raises(ValidationFailed) as err:
            save_plugin_settings("contract", {"loud": "perhaps"})
        assert set(err.value.field_errors) == {"loud"}
        with write_transaction() as session:  # values an older release accepted
            session.add(PluginSettings(plugin="contract",
                                       data={"max_notes": 1000, "gone": 1, "loud": True}))
        assert plugin_settings("contract") == {**DEFAULTS, "loud": True}
