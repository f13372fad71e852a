"""The import rules of ARCHITECTURE.md, read from the source with ``ast``:

- a plugin (bundled under ``plugins/``, or third-party like the fixture site's) imports
  from the core only through ``core.sdk`` and its submodules (rule 6), and never from
  another plugin (rule 2);
- the core (and the CLI) never imports a plugin (rule 2);
- every name the SDK publishes in ``__all__`` exists.

Every import statement counts, also inside functions and ``if TYPE_CHECKING`` blocks,
and so does ``importlib.import_module("...")`` / ``__import__("...")`` with a literal
name. Each rule is checked on a small source string that breaks it first, so a checker
that stopped seeing anything would fail here rather than pass quietly.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import pytest

import core.sdk

ROOT = Path(__file__).resolve().parents[2]
FAKE_SITE = ROOT / "tests" / "fixtures" / "site"
SDK = "core.sdk"
IMPORTERS = frozenset({"import_module", "__import__"})


# ------------------------------------------------------------------------- checkers


def imported_names(source: str, module: str, is_package: bool = False
                   ) -> Iterator[tuple[int, str]]:
    """``(line, absolute dotted name)`` of everything ``source`` imports, as module
    ``module``: relative imports resolved, ``from a import b`` as ``a.b`` (``b`` may be
    a submodule)."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{parent}.{base}" if parent and base else parent or base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id in IMPORTERS)
                   or (isinstance(node.func, ast.Attribute) and node.func.attr in IMPORTERS))):
            yield node.lineno, node.args[0].value


def top(name: str) -> str:
    return name.split(".", 1)[0]


def plugin_violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Imports of a plugin module that break the rules: a part of the core other than
    the SDK, or another plugin (``plugins.<other>``)."""
    own = module.split(".")[:2] if top(module) == "plugins" else [top(module)]
    found = []
    for line, name in imported_names(source, module, is_package):
        if top(name) == "core" and not (name == SDK or name.startswith(SDK + ".")):
            found.append(f"{line}: {name}")
        elif top(name) == "plugins" and name.split(".")[:2] != own and name != "plugins":
            found.append(f"{line}: {name}")
    return found


def plugin_packages() -> set[str]:
    """Top-level packages that hold plugins: ``plugins``, the fixture site's packages,
    and whatever else is installed under the ``fulian.plugins`` entry points."""
    names = {"plugins"}
    names |= {p.name for p in FAKE_SITE.iterdir() if (p / "__init__.py").is_file()}
    names |= {top(ep.value.split(":")[0]) for ep in entry_points(group="fulian.plugins")}
    return names - {"core", "cli"}


def core_violations(source: str, module: str, is_package: bool = False,
                    forbidden: frozenset[str] | set[str] = frozenset({"plugins"})) -> list[str]:
    """Imports of a core (or CLI) module that reach into a plugin package."""
    return [f"{line}: {name}" for line, name in imported_names(source, module, is_package)
            if top(name) in forbidden]


def unresolved(module: ModuleType) -> list[str]:
    """Names of ``module.__all__`` that the module does not have (or no ``__all__``)."""
    names = getattr(module, "__all__", None)
    if not isinstance(names, list | tuple) or not names:
        return ["<no __all__>"]
    duplicates = sorted({n for n in names if list(names).count(n) > 1})
    return [n for n in names if not hasattr(module, n)] + [f"{n} (twice)" for n in duplicates]


# ---------------------------------------------------------------------------- sources


def sources(base: Path, folder: Path) -> Iterator[tuple[Path, str, bool]]:
    """``(file, module name, is package)`` of every Python file under ``folder``, named
    as importable from ``base`` (a ``sys.path`` entry)."""
    for path in sorted(folder.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        yield path, ".".join(parts), is_package


def plugin_sources() -> Iterator[tuple[Path, str, bool]]:
    yield from sources(ROOT, ROOT / "plugins")
    yield from sources(FAKE_SITE, FAKE_SITE)


def report(found: dict[Path, list[str]]) -> str:
    return "\n".join(f"{path.relative_to(ROOT)}:{hit}" for path, hits in found.items()
                     for hit in hits)


# ------------------------------------------------------------------------------ tests


def test_the_plugin_checker_sees_forbidden_imports() -> None:
    source = (
        "from core.sdk import db, hookimpl\n"
        "from core.sdk.web import money\n"
        "from core import sdk\n"
        "from . import models\n"
        "from .pages import tabs\n"
        "from core.web.session import page_user\n"
        "from core import validation as v\n"
        "import core.finance.ledger\n"
        "from plugins.coupons import service\n"
        "def later():\n"
        "    from core.api.common import PUBLIC\n"
        "    return importlib.import_module('core.jobs')\n"
    )
    assert plugin_violations(source, "plugins.wallet.pages") == [
        "6: core.web.session.page_user", "7: core.validation", "8: core.finance.ledger",
        "9: plugins.coupons.service", "11: core.api.common.PUBLIC", "12: core.jobs"]
    # a relative import climbing out of the plugin is resolved, and caught
    assert plugin_violations("from ..core import models\n", "plugins.wallet.pages") == [
        "1: plugins.core.models"]
    assert plugin_violations("from .. import wallet\n", "plugins.coupons", True) == [
        "1: plugins.wallet"]
    assert plugin_violations("from . import api\n", "fulian_contract", True) == []


def test_plugins_import_the_core_only_through_the_sdk() -> None:
    found: dict[Path, list[str]] = {}
    checked = 0
    for path, module, is_package in plugin_sources():
        checked += 1
        hits = plugin_violations(path.read_text(encoding="utf-8"), module, is_package)
        if hits:
            found[path] = hits
    assert checked > 20  # the walk found the plugins
    assert not found, "import from core.sdk only (README, 'Writing a plugin'):\n" + report(found)


def test_the_core_checker_sees_plugin_imports() -> None:
    source = (
        "from ..plugins import plugins\n"      # core.plugins: the registry, allowed
        "from . import hookspecs\n"
        "import plugins.wallet\n"
        "def f():\n"
        "    from plugins.wallet.service import balance\n"
        "    import fulian_contract\n"
        "    return __import__('plugins.alipay')\n"
    )
    assert core_violations(source, "core.web.checkout", forbidden={"plugins", "fulian_contract"}
                           ) == ["3: plugins.wallet", "5: plugins.wallet.service.balance",
                                 "6: fulian_contract", "7: plugins.alipay"]
    assert core_violations("from .. import plugins\n", "core.web.menus") == []
    assert "fulian_contract" in plugin_packages() and "plugins" in plugin_packages()


def test_the_core_and_the_cli_never_import_a_plugin() -> None:
    forbidden = plugin_packages()
    found: dict[Path, list[str]] = {}
    checked = 0
    for folder in ("core", "cli"):
        for path, module, is_package in sources(ROOT, ROOT / folder):
            checked += 1
            hits = core_violations(path.read_text(encoding="utf-8"), module, is_package,
                                   forbidden)
            if hits:
                found[path] = hits
    assert checked > 100
    assert not found, "the core never imports a plugin (ARCHITECTURE.md, rule 2):\n" + \
        report(found)


def sdk_modules() -> list[ModuleType]:
    names = [SDK] + [f"{SDK}.{m.name}" for m in pkgutil.iter_modules(core.sdk.__path__)]
    return [importlib.import_module(name) for name in names]


def test_the_all_checker_sees_missing_names() -> None:
    fake = ModuleType("fake")
    fake.__all__ = ["here", "gone", "here"]  # type: ignore[attr-defined]
    fake.here = 1  # type: ignore[attr-defined]
    assert unresolved(fake) == ["gone", "here (twice)"]
    assert unresolved(ModuleType("bare")) == ["<no __all__>"]


@pytest.mark.parametrize("module", sdk_modules(), ids=lambda m: m.__name__)
def test_every_name_the_sdk_publishes_resolves(module: ModuleType) -> None:
    assert module.__doc__, f"{module.__name__} says what it holds"
    assert unresolved(module) == []


def test_the_sdk_has_its_documented_modules() -> None:
    assert {m.__name__ for m in sdk_modules()} >= {
        SDK, f"{SDK}.models", f"{SDK}.services", f"{SDK}.payments", f"{SDK}.web", f"{SDK}.api"}
