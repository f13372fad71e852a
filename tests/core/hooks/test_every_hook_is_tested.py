"""The contract's own rules (datasette's): every hookspec has an example in its
docstring, a test named ``test_hook_<hookspec>`` somewhere under ``tests/`` that goes
through the hook's real caller, and a line in the README's plugin guide."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import ModuleType

from core import hookspecs

TESTS = Path(__file__).resolve().parents[2]
README = TESTS.parent / "README.md"
EXAMPLE = re.compile(r"^\s*Example\b[^\n]*::\s*$", re.M)  # "Example::", "Example (...)::"


def hookspec_names(module: ModuleType) -> list[str]:
    """The hookspecs declared in ``module``: functions carrying pluggy's spec marker."""
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(name for name, obj in vars(module).items()
                  if callable(obj) and getattr(obj, marker, None) is not None)


def hooks_with_tests(root: Path) -> set[str]:
    """Hook names ``X`` for which some ``test_hook_X`` function is defined under ``root``."""
    found: set[str] = set()
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        if "test_hook_" not in source:  # cheap filter; the parse below decides
            continue
        tree = ast.parse(source, filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and \
                    node.name.startswith("test_hook_"):
                found.add(node.name.removeprefix("test_hook_"))
    return found


def untested(specs: list[str], tested: set[str]) -> list[str]:
    return [name for name in specs if name not in tested]


def plugin_guide(readme: str) -> str:
    """The README's "Writing a plugin" section."""
    found = re.search(r"^## Writing a plugin\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert found, "README.md has no '## Writing a plugin' section"
    return found.group(1)


def test_every_hookspec_has_a_test_named_for_it() -> None:
    specs = hookspec_names(hookspecs)
    assert len(specs) >= 15, specs
    missing = untested(specs, hooks_with_tests(TESTS))
    assert not missing, "hookspecs without a test_hook_<name> test: " + ", ".join(missing)


def test_the_checker_reports_a_hook_without_a_test(tmp_path: Path) -> None:
    """Negative control: a fake contract and a fake test tree."""
    contract = ModuleType("fake_hookspecs")
    exec(  # noqa: S102 - a literal fake contract, nothing from outside
        "from core.hookspecs import hookspec\n"
        "@hookspec\ndef fulian_tested(x): 'Example::'\n"
        "@hookspec\ndef fulian_forgotten(x): 'Example::'\n"
        "def fulian_helper(): pass\n", contract.__dict__)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "test_x.py").write_text(
        "class TestX:\n    def test_hook_fulian_tested(self):\n        pass\n"
        "def test_fulian_forgotten():\n    pass  # not named test_hook_<name>\n"
        "# def test_hook_fulian_forgotten(): a comment is no test\n")
    specs = hookspec_names(contract)
    assert specs == ["fulian_forgotten", "fulian_tested"]  # the helper is no hookspec
    assert untested(specs, hooks_with_tests(tmp_path)) == ["fulian_forgotten"]


def test_every_hookspec_docstring_has_an_example() -> None:
    without = [name for name in hookspec_names(hookspecs)
               if not EXAMPLE.search(getattr(hookspecs, name).__doc__ or "")]
    assert not without, "hookspecs without an 'Example::' block: " + ", ".join(without)
    assert not EXAMPLE.search("Returns an Example of nothing.")  # the pattern is strict


def test_the_readme_plugin_guide_names_every_hookspec() -> None:
    guide = plugin_guide(README.read_text(encoding="utf-8"))
    missing = [name for name in hookspec_names(hookspecs)
               if not re.search(rf"`{name}[`(]", guide)]
    assert not missing, "README 'Writing a plugin' does not mention: " + ", ".join(missing)
    listed = set(re.findall(r"^\| `(fulian_\w+)[`(]", guide, re.M))  # the hook table
    assert listed == set(hookspec_names(hookspecs)), "README hook table is out of date"
