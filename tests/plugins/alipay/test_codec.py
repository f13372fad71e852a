"""Money, time and forms as Alipay writes them, read exactly (no database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from plugins.alipay.codec import Malformed, parse_form, to_fen, to_unix, to_yuan


@pytest.mark.parametrize(("fen", "yuan"), [(0, "0.00"), (1, "0.01"), (10, "0.10"),
                                           (12800, "128.00"), (10005, "100.05"),
                                           (10**12, "10000000000.00")])
def test_fen_to_yuan_has_exactly_two_decimals(fen: int, yuan: str) -> None:
    assert to_yuan(fen) == yuan
    assert to_fen(yuan) == fen


@pytest.mark.parametrize("bad", [-1, 1.5, True, "100", None])
def test_only_fen_become_yuan(bad: object) -> None:
    with pytest.raises(Malformed):
        to_yuan(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("yuan", "fen"), [("0.1", 10), ("0.10", 10), ("128", 12800),
                                           ("128.5", 12850), ("99999999.99", 9999999999)])
def test_yuan_to_fen_is_exact(yuan: str, fen: int) -> None:
    assert to_fen(yuan) == fen


@pytest.mark.parametrize("bad", ["100.005", "0.100", "1e2", "-1.00", "+1", "NaN",
                                 "Infinity", " 1.00", "1.00 ", "01.00", "1.", ".5", "",
                                 "１.00", None, 1.0, 100])
def test_what_is_not_a_yuan_amount_is_refused(bad: object) -> None:
    with pytest.raises(Malformed):
        to_fen(bad)


def test_notify_time_is_beijing_wall_clock() -> None:
    assert to_unix("2026-12-02 18:00:00") == int(datetime(2026, 12, 2, 10, 0,
                                                          tzinfo=UTC).timestamp())
    for bad in ("2026-12-02T18:00:00", "2026-13-02 18:00:00", "", None, 1764669600):
        with pytest.raises(Malformed):
            to_unix(bad)


def test_forms_are_flat_utf8_with_blank_values_kept() -> None:
    assert parse_form(b"subject=%E5%89%AA%E5%8F%91&body=&a=1+2") == \
        {"subject": "剪发", "body": "", "a": "1 2"}
    for bad in (b"a=1&a=2", b"a=%ff", b"\xff=1", b"no-equals-sign",
                "&".join(f"f{i}=1" for i in range(101)).encode()):
        with pytest.raises(Malformed):
            parse_form(bad)
