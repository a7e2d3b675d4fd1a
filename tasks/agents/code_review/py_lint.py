"""The Python checks of the code reviewer, on the ``ast`` of the code.

* PY001 syntax error: ``ast.parse`` fails; the finding has the SyntaxError's line
  (the first NUL byte's line for NUL bytes, line 1 for code nested too deeply).
  Nothing else is checked then.
* PY002 bare except: an ``except:`` clause without an exception type.
* PY003 mutable default: a parameter default that is a list/dict/set display or
  comprehension, or a call of ``list``/``dict``/``set``/``bytearray``/
  ``collections.defaultdict``/``OrderedDict``/``deque``.
* PY004 eval/exec: a call of the builtin ``eval`` or ``exec``.
* PY005 long function: a ``def``/``async def`` spanning more than
  ``max_function_lines`` lines (from ``def`` to its last line, decorators excluded).
* PY006 unused import: pyflakes' ``UnusedImport`` (an imported name no code, string
  annotation or ``__all__`` entry of its scope uses), and its ``RedefinedWhileUnused``
  when what was redefined is an import (reported at the import's line). Not checked:
  ``import x as x`` re-exports, star imports, imports inside ``try`` (optional
  dependencies) and files named ``__init__.py``; nor, at all, code nested too deeply
  for pyflakes' recursive walk (e.g. a chain of some 300 ``+``), where it raises
  RecursionError. pyflakes' other messages (undefined names, ...) have no rule here
  and are dropped. The other rules are not pyflakes checks and are done on the
  ``ast`` here.
"""

from __future__ import annotations

import ast
import warnings

from pyflakes import messages as pyflakes_messages
from pyflakes.checker import Checker

from tasks.agents.code_review.lint_rules import RawFinding

_Import = ast.Import | ast.ImportFrom

_MUTABLE_NODES = (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)
_MUTABLE_CALLS = frozenset(
    {"list", "dict", "set", "bytearray", "defaultdict", "OrderedDict", "deque", "Counter"}
)


def parse(code: str) -> ast.Module | RawFinding:
    """The module's tree, or the PY001 finding of why it does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings are not findings
            return ast.parse(code)
    except (SyntaxError, ValueError) as exc:  # ValueError: NUL bytes on some versions
        line = getattr(exc, "lineno", None)
        if line is None:
            line = code.count("\n", 0, max(0, code.find("\0"))) + 1 if "\0" in code else 1
        detail = getattr(exc, "msg", None) or str(exc) or "invalid syntax"
        return RawFinding(line, "PY001", f"syntax error: {detail}")
    except (RecursionError, MemoryError):
        return RawFinding(1, "PY001", "syntax error: the code is nested too deeply to parse")


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _is_mutable(node: ast.expr) -> bool:
    return isinstance(node, _MUTABLE_NODES) or _call_name(node) in _MUTABLE_CALLS


def _function_findings(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, max_lines: int
) -> list[RawFinding]:
    findings: list[RawFinding] = []
    name = node.name if not isinstance(node, ast.Lambda) else "<lambda>"
    defaults = [*node.args.defaults, *(d for d in node.args.kw_defaults if d is not None)]
    for default in defaults:
        if _is_mutable(default):
            findings.append(
                RawFinding(
                    default.lineno,
                    "PY003",
                    f"mutable default argument in `{name}`: it is shared by every call",
                )
            )
    if not isinstance(node, ast.Lambda):
        length = (node.end_lineno or node.lineno) - node.lineno + 1
        if length > max_lines:
            findings.append(
                RawFinding(
                    node.lineno,
                    "PY005",
                    f"function `{name}` is {length} lines long (limit {max_lines})",
                )
            )
    return findings


def _node_findings(tree: ast.Module, max_lines: int) -> list[RawFinding]:
    findings: list[RawFinding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and node.type is None:
            findings.append(
                RawFinding(node.lineno, "PY002", "bare `except:` also catches KeyboardInterrupt")
            )
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            findings.extend(_function_findings(node, max_lines))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("eval", "exec")
        ):
            findings.append(
                RawFinding(
                    node.lineno,
                    "PY004",
                    f"`{node.func.id}()` runs arbitrary code",
                )
            )
    return findings


def _import_statements(tree: ast.Module) -> dict[tuple[int, int], _Import]:
    """Import statements by (line, column): where pyflakes' messages point."""
    return {
        (node.lineno, node.col_offset): node
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
    }


def _statements_in_try(tree: ast.Module) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def _bound_name(node: _Import, imported: str) -> str:
    """The name an import binds, from pyflakes' ``imported_name`` (``a.b``, ``a.b as c``)."""
    if " as " in imported:
        return imported.rsplit(" as ", 1)[1]
    if isinstance(node, ast.ImportFrom):
        return imported.rsplit(".", 1)[-1]
    return imported.split(".", 1)[0]


def _binds(node: _Import, name: str) -> bool:
    return any((a.asname or a.name.split(".")[0]) == name for a in node.names)


def _unused_imports(tree: ast.Module) -> list[RawFinding]:
    try:
        # withDoctest: not from $PYFLAKES_DOCTEST (the findings depend on the code alone)
        messages = Checker(tree, withDoctest=False).messages
    except RecursionError:
        return []
    in_try = _statements_in_try(tree)
    imports = {k: v for k, v in _import_statements(tree).items() if id(v) not in in_try}
    findings: list[RawFinding] = []
    for msg in messages:
        if isinstance(msg, pyflakes_messages.UnusedImport):
            node = imports.get((msg.lineno, msg.col))
            imported = msg.message_args[0]
            if node is None or imported.endswith(".*"):
                continue
            bound = _bound_name(node, imported)
            if not any(a.asname == a.name == bound for a in node.names):  # `as x` re-export
                findings.append(
                    RawFinding(msg.lineno, "PY006", f"`{bound}` is imported but never used")
                )
        elif isinstance(msg, pyflakes_messages.RedefinedWhileUnused):
            name, line = msg.message_args
            if any(at == line and _binds(node, name) for (at, _), node in imports.items()):
                findings.append(
                    RawFinding(
                        line,
                        "PY006",
                        f"`{name}` is imported but never used (line {msg.lineno} redefines it)",
                    )
                )
    return findings


def check_python(
    code: str, max_function_lines: int = 60, filename: str | None = None
) -> tuple[list[RawFinding], bool]:
    """The Python findings of ``code`` and whether every check ran (no syntax error)."""
    tree = parse(code)
    if isinstance(tree, RawFinding):
        return [tree], False
    findings = _node_findings(tree, max_function_lines)
    if not (filename or "").replace("\\", "/").endswith("__init__.py"):
        findings.extend(_unused_imports(tree))
    return findings, True
