"""fulian_translation_dirs, through the app factory's Babel setup."""

from __future__ import annotations

from typing import Any

import fulian_contract

from tests.core.hooks.helpers import calls


def test_hook_fulian_translation_dirs(make_app: Any) -> None:
    first = make_app()
    with first.app_context():
        first.extensions["fulian_plugins"].set_enabled("contract", True)
    fulian_contract.CALLS.clear()
    app = make_app(migrate=False)  # catalogues of the plugins enabled at start-up
    assert calls("fulian_translation_dirs") == [{}]
    client = app.test_client()
    # the plugin's catalogue is merged over the core's: its page in Chinese
    assert client.get("/contract/", headers={"Accept-Language": "zh-CN"}
                      ).get_data(as_text=True) == "契约页面"
    assert client.get("/contract/", headers={"Accept-Language": "en"}
                      ).get_data(as_text=True) == "Contract page"
    # and its menu entry on a core page, translated by the same catalogue
    assert ">契约页面</a>" in client.get("/?lang=zh_CN").get_data(as_text=True)
