"""Every ``fulian`` command, with good and bad input, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

COMMANDS = [
    [], ["init"], ["demo"], ["serve"], ["worker"], ["db"], ["db", "upgrade"], ["db", "current"],
    ["db", "history"], ["store"], ["store", "create"], ["store", "list"], ["store", "update"],
    ["staff"], ["staff", "add"], ["staff", "list"], ["service"], ["service", "add"],
    ["service", "list"], ["user"], ["user", "create"], ["user", "set-password"],
    ["user", "remove-role"], ["user", "deactivate"], ["plugins"],
    ["plugins", "list"], ["plugins", "enable"], ["plugins", "disable"], ["license"],
    ["license", "install"], ["license", "show"], ["license", "issue"], ["license", "keygen"],
    ["theme"], ["theme", "list"], ["theme", "use"], ["i18n"], ["i18n", "compile"],
]


def one_error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def initialised(run_cli):
    code, out, err = run_cli("init", "--brand", "Test Brand", "--owner-email", "o@example.com",
                             "--owner-password", "owner-pass-1", "--locale", "en")
    assert code == 0, err
    return run_cli


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "root")
def test_help(run_cli, args):
    code, out, err = run_cli(*args, "--help")
    assert code == 0, err
    assert "Usage: fulian" in out


def test_init_is_idempotent_and_creates_owner(run_cli):
    code, out, err = run_cli("init", "--owner-email", "o@example.com", "--owner-password",
                             "owner-pass-1")
    assert code == 0, err
    assert "Owner o@example.com created." in out
    code, out, err = run_cli("init")
    assert code == 0, err
    assert "already exists" in out
    code, out, _ = run_cli("db", "current")
    assert "(head)" in out


def test_init_without_owner_email_fails_in_one_line(run_cli):
    code, out, err = run_cli("init")
    assert code == 1
    assert "--owner-email" in one_error_line(err)


def test_init_generates_password_when_none_given(run_cli):
    code, out, err = run_cli("init", "--owner-email", "o@example.com")
    assert code == 0, err
    assert "Generated password (shown once):" in out


def test_demo_no_serve(run_cli):
    code, out, err = run_cli("demo", "--no-serve")
    assert code == 0, err
    # a demo deployment licenses its paid plugins with the demo key (vault needs the
    # test-only contract plugin enabled first, so it is left alone)
    assert "Paid plugins enabled with a demo licence: wallet." in out
    assert "2 stores, 5 staff, 6 services, 6 customers," in out
    booked = int(out.split("customers, ")[1].split(" bookings")[0])
    assert 20 <= booked <= 30  # first free slots from 11:00 and 15:00 on three days
    code, out, _ = run_cli("store", "list")
    assert "xuhui" in out and "jingan" in out
    code, out, _ = run_cli("demo", "--no-serve")
    assert code == 0 and "already present" in out


def test_store_commands(initialised):
    run = initialised
    code, out, err = run("store", "create", "--code", "xh", "--name", "Xuhui",
                         "--hours", "mon-fri 09:00-12:00,13:00-21:00; sat 10:00-18:00")
    assert code == 0, err
    assert "Store xh created" in out
    code, out, _ = run("store", "list")
    assert "mon-fri 09:00-12:00,13:00-21:00; sat 10:00-18:00" in out
    assert "Asia/Shanghai" in out  # defaulted from the brand
    code, out, err = run("store", "update", "xh", "--name", "Xuhui Flagship", "--status",
                         "closed", "--holiday", "2026-12-25:Christmas")
    assert code == 0, err
    code, out, _ = run("store", "list")
    assert "Xuhui Flagship" in out and "closed" in out


@pytest.mark.parametrize("args, fragment", [
    (["store", "create", "--code", "Bad Code!", "--name", "x"], "code:"),
    (["store", "create", "--code", "ok", "--name", "x", "--timezone", "Mars/Olympus"],
     "Unknown time zone"),
    (["store", "create", "--code", "ok", "--name", "x", "--hours", "mon 25:00-26:00"],
     "Opening hours not understood"),
    (["store", "create", "--code", "ok", "--name", "x", "--hours",
      "mon 09:00-12:00,11:00-13:00"], "overlap"),
    (["store", "create", "--code", "ok", "--name", "  "], "Must not be empty"),
    (["store", "create", "--code", "ok", "--name", "x", "--phone", "call me"],
     "Not a valid phone number"),
    (["store", "update", "nope", "--name", "x"], "No store nope"),
    (["store", "update", "1"], "Nothing to change"),
    (["store", "update", "1", "--holiday", "2026-13-01"], "Not a valid date"),
    (["store", "create", "--name", "x"], "Missing option '--code'"),
    (["service", "add", "--name", "x", "--duration", "60", "--price", "128.50"],
     "whole minor units"),
    (["service", "add", "--name", "x", "--duration", "60", "--price", "-5"], "negative"),
    (["service", "add", "--name", "x", "--duration", "2", "--price", "100"],
     "Between 5 and 720"),
    (["service", "add", "--name", "x", "--duration", "abc", "--price", "100"],
     "is not a valid integer"),
    (["service", "add", "--name", "x", "--duration", "60", "--price", "100", "--store", "zz"],
     "No store zz"),
    (["staff", "add", "--name", "x", "--store", "zz"], "No store zz"),
    (["staff", "add", "--name", "x", "--store", "s1", "--service", "nope"],
     "No service nope"),
    (["staff", "add", "--name", "x", "--store", "s1"], "email address or a phone"),
    (["user", "create", "--name", "x", "--email", "not-an-email", "--password", "longenough",
      "--role", "owner"], "Not a valid email address"),
    (["user", "create", "--name", "x", "--email", "x@example.com", "--password", "short",
      "--role", "owner"], "too short"),
    (["user", "create", "--name", "x", "--email", "o@example.com", "--password", "longenough",
      "--role", "owner"], "already exists"),
    (["user", "create", "--name", "x", "--email", "m@example.com", "--password", "longenough",
      "--role", "store_manager"], "needs at least one store"),
    (["user", "create", "--name", "x", "--email", "m@example.com", "--password", "longenough",
      "--role", "owner", "--store", "s1"], "covers the whole brand"),
    (["user", "create", "--name", "x", "--email", "m@example.com", "--password", "longenough",
      "--role", "emperor"], "Invalid value for '--role'"),
    (["user", "set-password", "ghost@example.com", "--password", "longenough"],
     "No user ghost@example.com"),
    (["user", "set-password", "o@example.com", "--password", "short"], "too short"),
    (["user", "remove-role", "ghost@example.com", "--role", "owner"],
     "No user ghost@example.com"),
    (["user", "remove-role", "o@example.com", "--role", "owner"], "last owner"),
    (["user", "remove-role", "o@example.com", "--role", "store_manager"],
     "does not have the store_manager role"),
    (["user", "remove-role", "o@example.com", "--role", "owner", "--store", "s1"],
     "covers the whole brand"),
    (["user", "remove-role", "o@example.com", "--role", "customer"],
     "Invalid value for '--role'"),
    (["user", "remove-role", "o@example.com"], "Missing option '--role'"),
    (["user", "deactivate", "ghost@example.com"], "No user ghost@example.com"),
    (["user", "deactivate", "o@example.com"], "last owner"),
    (["plugins", "enable", "nope"], "No plugin named nope"),
    (["plugins", "enable", "vault"], "paid plugin"),
    (["plugins", "disable", "nope"], "No plugin named nope"),
    (["theme", "use", "nope"], "No theme named nope"),
    (["license", "install", "/nonexistent/file.json"], "No such file"),
    (["serve", "--port", "99999"], "99999 is not in the range"),
    (["nosuchcommand"], "No such command"),
])
def test_bad_input_fails_with_one_line_and_changes_nothing(initialised, args, fragment):
    run = initialised
    assert run("store", "create", "--code", "s1", "--name", "S1")[0] == 0
    before = [run("store", "list")[1], run("service", "list")[1], run("staff", "list")[1],
              run("plugins", "list")[1]]
    code, out, err = run(*args)
    assert code in (1, 2)
    assert fragment in one_error_line(err)
    after = [run("store", "list")[1], run("service", "list")[1], run("staff", "list")[1],
             run("plugins", "list")[1]]
    assert before == after


def test_staff_service_user_commands(initialised):
    run = initialised
    assert run("store", "create", "--code", "s1", "--name", "S1")[0] == 0
    code, out, err = run("service", "add", "--name", "Facial", "--duration", "60", "--price",
                         "28800", "--category", "Face", "--buffer-after", "10")
    assert code == 0, err
    code, out, _ = run("service", "list")
    assert "Facial" in out and "288.00 CNY" in out and "Face" in out
    code, out, err = run("staff", "add", "--name", "Lin", "--email", "lin@example.com",
                         "--password", "staff-pass-1", "--store", "s1", "--service", "Facial",
                         "--title", "Senior", "--speciality", "anti-age")
    assert code == 0, err
    code, out, _ = run("staff", "list", "--store", "s1")
    assert "Lin" in out and "Senior" in out
    code, out, err = run("user", "create", "--name", "Mgr", "--email", "mgr@example.com",
                         "--password", "manager-pass", "--role", "store_manager", "--store",
                         "s1")
    assert code == 0, err
    code, out, err = run("user", "set-password", "mgr@example.com", "--password",
                         "another-pass")
    assert code == 0, err
    assert "Password of Mgr changed." in out


def test_remove_role_and_deactivate(initialised):
    run = initialised
    assert run("store", "create", "--code", "s1", "--name", "S1")[0] == 0
    assert run("store", "create", "--code", "s2", "--name", "S2")[0] == 0
    code, out, err = run("user", "create", "--name", "Mgr", "--email", "mgr@example.com",
                         "--password", "manager-pass", "--role", "store_manager", "--store",
                         "s1", "--store", "s2")
    assert code == 0, err
    code, out, err = run("user", "remove-role", "mgr@example.com", "--role", "store_manager",
                         "--store", "s3")
    assert code == 1 and "No store s3" in one_error_line(err)
    code, out, err = run("user", "remove-role", "mgr@example.com", "--role", "store_manager",
                         "--store", "s2")
    assert code == 0, err
    assert "Role store_manager removed from Mgr (1 assignment(s))" in out
    assert "sessions and tokens have ended" in out
    code, out, err = run("user", "remove-role", "mgr@example.com", "--role", "store_manager",
                         "--store", "s2")
    assert code == 1 and "Mgr is not store_manager at s2." in one_error_line(err)
    code, out, err = run("user", "deactivate", "mgr@example.com")
    assert code == 0, err
    assert "Mgr deactivated; their sessions and tokens have ended." in out
    code, out, err = run("user", "deactivate", "mgr@example.com")
    assert code == 1 and "already deactivated" in one_error_line(err)


def test_db_commands(initialised):
    run = initialised
    code, out, err = run("db", "upgrade")
    assert code == 0 and "up to date" in out
    code, out, _ = run("db", "history")
    assert "c0001 (core)" in out and "k0001 (contract)" in out


def test_plugin_commands_and_plugin_cli_hook(initialised):
    run = initialised
    code, out, _ = run("plugins", "list")
    assert code == 0
    for name in ("beauty", "fitness", "contract", "vault"):
        assert name in out
    assert run("contract-hello")[0] == 2  # disabled plugin: its command does not exist
    code, out, err = run("plugins", "enable", "contract")
    assert code == 0, err
    code, out, _ = run("contract-hello")
    assert code == 0 and "hello from contract" in out
    code, out, err = run("plugins", "disable", "contract")
    assert code == 0 and "data is kept" in out


def test_license_lifecycle(initialised, tmp_path, vendor_keys):
    run = initialised
    code, out, _ = run("license", "show")
    deployment = out.split("Deployment id: ")[1].split()[0]
    assert "No licence installed" in out
    lic = tmp_path / "lic.json"
    expires = (date.today() + timedelta(days=30)).isoformat()
    code, out, err = run("license", "issue", "--key", str(vendor_keys["private"]),
                         "--deployment", deployment, "--licensee", "Jade", "--plugin", "vault",
                         "--max-stores", "3", "--expires", expires, "--out", str(lic))
    assert code == 0, err
    code, out, err = run("license", "install", str(lic))
    assert code == 0, err
    assert "installed" in out and "vault" in out
    code, out, _ = run("license", "show")
    assert "Status: valid." in out
    assert run("plugins", "enable", "contract")[0] == 0
    code, out, err = run("plugins", "enable", "vault")
    assert code == 0, err
    code, out, _ = run("plugins", "list")
    vault_row = next(line for line in out.splitlines() if line.startswith("vault"))
    assert vault_row.split()[-2:] == ["yes", "contract"] or "yes" in vault_row


@pytest.mark.parametrize("case, fragment", [
    ("expired", "expired on"),
    ("tampered", "signature is invalid"),
    ("wrong_deployment", "not this one"),
    ("too_many_stores", "allows 1 stores but 2 are active"),
    ("not_json", "not a valid Fulian licence"),
])
def test_license_install_refusals(initialised, tmp_path, vendor_keys, case, fragment):
    from core import licensing

    run = initialised
    deployment = run("license", "show")[1].split("Deployment id: ")[1].split()[0]
    run("store", "create", "--code", "s1", "--name", "S1")
    run("store", "create", "--code", "s2", "--name", "S2")
    private = vendor_keys["private"].read_bytes()
    args = {"deployment_id": deployment, "licensee": "L", "plugins": ["vault"],
            "max_stores": 5, "expires_at": date.today() + timedelta(days=5)}
    if case == "expired":
        args.update(expires_at=date.today() - timedelta(days=1),
                    issued_at=date.today() - timedelta(days=9))
    if case == "wrong_deployment":
        args["deployment_id"] = "00000000-0000-0000-0000-000000000000"
    if case == "too_many_stores":
        args["max_stores"] = 1
    doc = licensing.issue(private, **args)
    if case == "tampered":
        data = json.loads(doc)
        data["payload"]["plugins"] = ["vault", "everything"]
        doc = json.dumps(data)
    if case == "not_json":
        doc = "hello"
    path = tmp_path / "lic.json"
    path.write_text(doc)
    code, out, err = run("license", "install", str(path))
    assert code == 1
    assert fragment in one_error_line(err)
    assert "No licence installed" in run("license", "show")[1]


def test_license_issue_bad_input(initialised, tmp_path):
    run = initialised
    code, _, err = run("license", "issue", "--key", str(tmp_path / "missing.key"),
                       "--deployment", "d", "--licensee", "L", "--plugin", "vault",
                       "--max-stores", "1", "--expires", "2030-01-01")
    assert code == 2 and "no such file" in one_error_line(err)
    code, _, err = run("license", "issue", "--key", str(tmp_path / "missing.key"),
                       "--deployment", "d", "--licensee", "L", "--plugin", "vault",
                       "--max-stores", "1", "--expires", "someday")
    assert code == 2 and "not a date" in one_error_line(err)


def test_license_keygen(run_cli, tmp_path):
    code, out, err = run_cli("license", "keygen", "--out-dir", str(tmp_path / "k"))
    assert code == 0, err
    assert (tmp_path / "k" / "vendor.key").stat().st_mode & 0o777 == 0o600
    code, out, err = run_cli("license", "keygen", "--out-dir", str(tmp_path / "k"))
    assert code == 1 and "refusing to overwrite" in one_error_line(err)


def test_theme_commands(initialised):
    run = initialised
    code, out, _ = run("theme", "list")
    assert code == 0
    assert "* " in out and "default" in out and "jade" in out
    code, out, err = run("theme", "use", "jade")
    assert code == 0, err
    code, out, _ = run("theme", "list")
    active = next(line for line in out.splitlines() if line.startswith("*"))
    assert "jade" in active


def test_i18n_compile(run_cli):
    code, out, err = run_cli("i18n", "compile")
    assert code == 0, err
    assert "catalogues" in out


def test_messages_follow_the_cli_locale(initialised, monkeypatch):
    monkeypatch.setenv("FULIAN_LOCALE", "zh_CN")
    code, out, err = initialised("store", "update", "nope", "--name", "x")
    assert code == 1
    line = one_error_line(err)
    assert "nope" in line and "No store" not in line  # translated
