"""WeChat Pay is offered only when configured; `fulian check` says what is missing, in
the deployment's language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask_babel import force_locale

from core import readiness
from core.finance.providers import installed, providers

from .conftest import enable_wechatpay


def _problems(app: Any) -> list[str]:
    with app.app_context(), force_locale("en"):
        return [str(p) for p in installed()["wechatpay"].readiness()]


def test_readiness_lists_every_missing_setting_and_file(make_app: Any, tmp_path: Path
                                                         ) -> None:
    app = make_app()
    enable_wechatpay(app, {})
    problems = _problems(app)
    for setting in ("FULIAN_WECHATPAY_MCHID", "FULIAN_WECHATPAY_APPID",
                    "FULIAN_WECHATPAY_APIV3_KEY", "FULIAN_WECHATPAY_CERT_SERIAL_NO"):
        assert any(p.startswith(f"{setting} is not set") for p in problems), problems
    default_key = tmp_path / "instance" / "wechatpay" / "apiclient_key.pem"
    assert any(str(default_key) in p for p in problems)
    assert len(problems) == 5
    with app.app_context():
        assert "wechatpay" in installed() and "wechatpay" not in providers()
        findings = [f for f in readiness.check(app) if f.topic == "payments:wechatpay"]
        assert findings[0].level == "error" and "FULIAN_WECHATPAY_MCHID" in findings[0].message
    restarted = make_app()  # the plugin's catalogue loads with the app
    with restarted.app_context(), force_locale("zh_Hans_CN"):
        provider = installed()["wechatpay"]
        assert str(provider.label) == "微信支付"
        assert str(provider.readiness()[0]) == "未设置 FULIAN_WECHATPAY_MCHID：商户号。"


def test_readiness_checks_values_and_files(make_app: Any,
                                           wechatpay_settings: dict[str, Any],
                                           tmp_path: Path) -> None:
    app = make_app(**wechatpay_settings)
    enable_wechatpay(app, wechatpay_settings)
    assert _problems(app) == []
    with app.app_context():
        assert "wechatpay" in providers()
    app.config["FULIAN_WECHATPAY_APIV3_KEY"] = "too-short"
    assert _problems(app) == ["FULIAN_WECHATPAY_APIV3_KEY must be exactly 32 characters."]
    app.config["FULIAN_WECHATPAY_APIV3_KEY"] = wechatpay_settings["FULIAN_WECHATPAY_APIV3_KEY"]
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    app.config["FULIAN_WECHATPAY_PRIVATE_KEY_FILE"] = str(not_a_key)
    assert [p.split(" cannot")[0] for p in _problems(app)] == [
        f"The merchant private key {not_a_key}"]
    del app.config["FULIAN_WECHATPAY_PRIVATE_KEY_FILE"]
    # public-key mode needs the public key file
    app.config["FULIAN_WECHATPAY_PUBLIC_KEY_ID"] = "PUB_KEY_ID_0119000001092025010100000001"
    [problem] = _problems(app)
    assert problem.startswith("The WeChat Pay public key ") and "pub_key.pem" in problem
    del app.config["FULIAN_WECHATPAY_PUBLIC_KEY_ID"]
    # the platform certificate folder must be creatable
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    app.config["FULIAN_WECHATPAY_CERT_DIR"] = str(blocker / "certs")
    [problem] = _problems(app)
    assert problem.startswith("The platform certificate folder")
