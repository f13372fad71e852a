"""Fixtures for the per-hook tests: each hook is exercised through its real caller
(a page, an API call, a job run, the CLI, ``fulian demo``), on SQLite, with the
contract plugin (``tests/fixtures/site/fulian_contract``) or a small plugin of the
test enabled like a deployment enables one: in the database, then a restart of the
app (blueprints and catalogues are taken from the plugins enabled at start-up)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fulian_contract
import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """SQLite only: none of these hooks is about the database backend."""
    yield f"sqlite:///{tmp_path / 'fulian.db'}"


@pytest.fixture
def started_with(make_app: Any) -> Callable[..., Any]:
    """``started_with(*names, extra=(), **config)``: migrate, enable the plugins
    ``names``, then return a freshly started app on that database."""

    def start(*names: str, extra: tuple = (), **config: Any) -> Any:
        first = make_app(extra=extra, **config)
        with first.app_context():
            registry = first.extensions["fulian_plugins"]
            for name in names:
                registry.set_enabled(name, True)
        app = make_app(migrate=False, extra=extra, **config)
        fulian_contract.CALLS.clear()
        return app

    return start


@pytest.fixture
def contract_app(started_with: Callable[..., Any]) -> Any:
    """An app started with the contract plugin enabled."""
    return started_with("contract")

