"""The ``fulian`` group: one app per invocation, one-line errors, plugin commands.

Every failure the operator can fix ends as a single ``Error: ...`` line on stderr and a
non-zero exit (2 for usage mistakes, 1 otherwise); tracebacks appear only with
``FULIAN_DEBUG=1``.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click
from flask import Flask, g
from flask_babel import gettext as _

from core.audit import acting_as
from core.errors import FulianError

_app: Flask | None = None
#: the deployment kind a command asked for (``fulian demo``), over ``FULIAN_ENV``
_mode: str | None = None


def get_app() -> Flask:
    global _app
    if _app is None:
        from core import create_app

        _app = create_app({"FULIAN_ENV": _mode} if _mode else None)
    return _app


def use_mode(mode: str) -> None:
    """Build this invocation's app as ``mode`` (an app built earlier, e.g. to list the
    plugins' commands, is dropped)."""
    global _app, _mode
    _mode, _app = mode, None


def cli_locale() -> str:
    from core.i18n import operator_locale

    return operator_locale()


def with_app(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run the command inside the app context, attributing writes to ``cli``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = get_app()
        with app.app_context(), acting_as(None, "cli"):
            g.fulian_locale = cli_locale()
            return fn(*args, **kwargs)

    return wrapper


def echo_table(headers: list[str], rows: list[list[Any]]) -> None:
    """Print an aligned plain-text table (CJK-aware widths)."""
    import unicodedata

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in r]
                                          for r in rows]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c + " " * (widths[i] - width(c)) for i, c in enumerate(row)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))


def fail(message: Any) -> None:
    raise FulianError(message)


class FulianGroup(click.Group):
    """Top-level group that also lists commands contributed by enabled plugins."""

    _plugin_commands: dict[str, click.Command] | None = None

    def _plugins(self) -> dict[str, click.Command]:
        if self._plugin_commands is None:
            self._plugin_commands = {}
            try:
                app = get_app()
                holder = click.Group()
                with app.app_context():
                    app.extensions["fulian_plugins"].call("fulian_cli_commands", group=holder)
                self._plugin_commands = {n: c for n, c in holder.commands.items()
                                         if n not in self.commands}
            except Exception:  # a broken plugin or database must not break the core CLI
                if os.environ.get("FULIAN_DEBUG"):
                    traceback.print_exc()
        return self._plugin_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._plugins()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._plugins().get(cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("Error: " + _cli_text("Aborted."), err=True)
            sys.exit(1)
        except click.UsageError as exc:
            click.echo(f"Error: {exc.format_message()}".replace("\n", " "), err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}".replace("\n", " "), err=True)
            sys.exit(exc.exit_code or 1)
        except FulianError as exc:
            click.echo(f"Error: {_render(exc)}", err=True)
            sys.exit(1)
        except Exception as exc:
            if os.environ.get("FULIAN_DEBUG"):
                traceback.print_exc()
            first = str(exc).splitlines()[0] if str(exc) else ""
            click.echo(f"Error: {type(exc).__name__}: {first} (set FULIAN_DEBUG=1 for details)",
                       err=True)
            sys.exit(1)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        return rv


def _render(exc: FulianError) -> str:
    """Render a domain error in the CLI locale (it may be raised outside an app context)."""
    app = _app
    if app is None:
        return str(exc)
    with app.app_context():
        g.fulian_locale = cli_locale()
        return str(exc).replace("\n", " ")


def _cli_text(text: str) -> str:
    app = _app
    if app is None:
        return text
    with app.app_context():
        g.fulian_locale = cli_locale()
        return _(text)
