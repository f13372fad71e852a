"""Which way the core's packages may depend on each other (checked on the source).

Services never reach into the faces; money never imports bookings (bookings react to
payments through :mod:`core.finance.events`); the scheduling engine and its loader know
neither bookings' services nor money. Imports inside functions count as much as those
at the top: a loop hidden in a function body is still a loop.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"
FACES = ("core.web", "core.api", "cli")
#: package -> prefixes of modules it must not import
RULES = {
    "core.finance": ("core.booking", *FACES),
    "core.booking": FACES,
    "core.scheduling": ("core.booking", "core.finance", *FACES),
    "core.org": ("core.booking", "core.finance", *FACES),
    "core.catalog": ("core.booking", "core.finance", *FACES),
    "core.crm": ("core.booking", "core.finance", *FACES),
}


def imported(source: str, module: str, is_package: bool = False) -> set[str]:
    """Dotted names of everything ``module`` imports (``from x import y`` gives both
    ``x`` and ``x.y``; relative imports resolved)."""
    names: set[str] = set()
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            parent = ".".join(base + ([node.module] if node.module else []))
            names.add(parent)
            names.update(f"{parent}.{alias.name}" for alias in node.names)
    return names


def violations(package: str, forbidden: tuple[str, ...]) -> list[str]:
    folder = CORE.joinpath(*package.split(".")[1:])
    found = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(CORE.parent).with_suffix("").parts
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        for name in sorted(imported(path.read_text(), module, is_package)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{module} imports {name}")
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_package_does_not_import_what_depends_on_it(package: str) -> None:
    assert violations(package, RULES[package]) == []


def test_the_checker_sees_relative_and_local_imports() -> None:
    source = "def f():\n    from ..booking import holds\n"
    assert "core.booking.holds" in imported(source, "core.finance.orders")
    assert "core.booking" in imported("from .. import booking", "core.finance.orders")
    assert "core.finance.events" in imported("from . import events", "core.finance", True)


def loops(package: str) -> list[list[str]]:
    """Import cycles among the modules of ``package`` (each found once, as a path)."""
    folder = CORE.joinpath(*package.split(".")[1:])
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        module = f"{package}.{path.stem}"
        graph[module] = {name for name in imported(path.read_text(), module)
                         if name in {f"{package}.{p.stem}" for p in folder.glob("*.py")}}
    found, state = [], {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node] - {node}):
            if state.get(nxt) == "open":
                found.append([*trail[trail.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


#: packages whose modules import each other one way only (money: orders and refunds ask
#: tenders, fees ask rates, the sandbox registers itself with providers)
ONE_WAY = ("core.finance", "core.booking", "core.scheduling", "core.org", "core.crm",
           "core.catalog", "core.auth")


@pytest.mark.parametrize("package", ONE_WAY)
def test_no_import_loop_inside(package: str) -> None:
    assert loops(package) == []


def test_the_loop_finder_finds_a_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "core" / "pkg"
    folder.mkdir(parents=True)
    (folder / "a.py").write_text("from . import b\n")
    (folder / "b.py").write_text("def f():\n    from .a import x\n")
    monkeypatch.setattr(sys.modules[__name__], "CORE", tmp_path / "core")
    assert loops("core.pkg") == [["core.pkg.a", "core.pkg.b", "core.pkg.a"]]
