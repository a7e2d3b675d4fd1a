"""Find the repository paths and named SQL queries that the docs and the code's comments
cite, and say which of them do not exist (tests/unit/test_doc_pointers.py).

Cited paths are the ones that start at the repository's root (``workers/…``, ``docs/…``,
``README.md`` …) and, in Markdown, link targets (relative to the document). Globs and
placeholders (``persistence/sql/*.sql``, ``<data dir>/demo/``) are not paths. A named query
is cited as ``queries.sql (upsert_executions)``: the file under ``persistence/sql/`` must
have a ``-- name: upsert_executions`` block. In Python files only comments and strings
(docstrings among them) are read.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from persistence.sql import queries

ROOTS = (
    "workers",
    "tasks",
    "persistence",
    "bench",
    "tests",
    "docs",
    "supabase",
    "deploy",
    ".ci",
)
ROOT_FILES = (
    "README.md",
    "pyproject.toml",
    "beat_schedule.py",
    "docker-compose.yml",
    "Dockerfile",
    "package.json",
    ".env.example",
)
_ROOTS = "|".join(re.escape(r) for r in ROOTS)
_FILES = "|".join(re.escape(f) for f in ROOT_FILES)
# A path starts after something that cannot be part of one (so that ``x/workers/y`` or a
# URL's ``…/docs/…`` is not read as ``workers/y``), and is made of path characters.
PATH = re.compile(rf"(?<![\w./~$-])(?:(?:{_ROOTS})/[\w./-]*|(?:{_FILES})(?![\w.-]))")
# Rates such as "tasks/s" are not paths.
_UNITS = re.compile(r"^tasks/(?:s|min|h|hour|minute|second)$")
# Things next to a path that make it not one: a glob, a placeholder, a template.
_NOT_A_PATH = re.compile(r"^[*<{…]|^\.\.\.")
QUERY = re.compile(r"(?<![\w/])((?:persistence/sql/)?[\w-]+\.sql)`{0,2}\s*\(`{0,2}(\w+)`{0,2}\)")
_REVISION = re.compile(r"^\d{4}_")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@dataclass(frozen=True, order=True)
class Stale:
    source: str  # the file that cites it, relative to the root
    cited: str  # the path, or "file.sql (name)"
    why: str

    def __str__(self) -> str:
        return f"{self.source}: {self.cited} ({self.why})"


def cited_paths(text: str) -> Iterator[str]:
    """The root-relative paths ``text`` names, trailing punctuation removed."""
    for m in PATH.finditer(text):
        following = text[m.end() : m.end() + 1]
        if following and _NOT_A_PATH.match(following):
            continue
        path = m.group(0).rstrip(".,:;-")
        if path.endswith("/") and text[m.end() : m.end() + 1] in ("*", "<", "{"):
            continue
        if path and not _UNITS.match(path):
            yield path


def cited_queries(text: str) -> Iterator[tuple[str, str]]:
    """``(sql file, query name)`` for each ``file.sql (name)`` in ``text``."""
    for m in QUERY.finditer(text):
        yield m.group(1).removeprefix("persistence/sql/"), m.group(2)


def markdown_links(text: str) -> Iterator[str]:
    """Link targets that are files of the repository (not URLs, not anchors alone)."""
    for m in LINK.finditer(text):
        target = m.group(1).split("#", 1)[0]
        if target and "://" not in target and not target.startswith(("mailto:", "/")):
            yield target


# Comments, strings, and (Python 3.12+) the literal parts of f-strings.
_PROSE = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}


def python_prose(source: str) -> str:
    """The comments and string literals of a Python module, one per line."""
    out: list[str] = []
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    for tok in tokens:
        if tok.type in (tokenize.COMMENT, tokenize.STRING) or tok.type == getattr(
            tokenize, "FSTRING_MIDDLE", -1
        ):
            out.append(tok.string)
    return "\n".join(out)


def _query_names(root: Path, sql_file: str) -> set[str] | None:
    path = root / "persistence" / "sql" / sql_file
    if not path.is_file():
        return None
    if root == Path(__file__).resolve().parents[2]:
        return set(queries(sql_file))
    return set(re.findall(r"^-- name: (\w+)", path.read_text(), flags=re.M))


def stale_in(root: Path, source: Path, text: str, *, markdown: bool) -> Iterator[Stale]:
    """What ``text`` (the prose of ``source``) cites that ``root`` does not have."""
    rel = source.relative_to(root).as_posix()
    for path in cited_paths(text):
        if not (root / path).exists():
            yield Stale(rel, path, "no such file or directory")
    if markdown:
        for target in markdown_links(text):
            if not (source.parent / target).exists():
                yield Stale(rel, target, "link to a file that does not exist")
    for sql_file, name in cited_queries(text):
        if _REVISION.match(sql_file):  # a migration's file has no named queries
            continue
        names = _query_names(root, sql_file)
        if names is None:
            yield Stale(rel, f"{sql_file} ({name})", f"no persistence/sql/{sql_file}")
        elif name not in names:
            yield Stale(rel, f"{sql_file} ({name})", f"no '-- name: {name}' in {sql_file}")


def sources(root: Path) -> Iterable[Path]:
    """The documents and the Python files whose prose is checked."""
    yield root / "README.md"
    yield root / "bench" / "README.md"
    yield from sorted((root / "docs").glob("*.md"))
    for top in ("workers", "tasks", "persistence", "bench"):
        yield from sorted((root / top).rglob("*.py"))


def stale_pointers(root: Path) -> list[Stale]:
    out: list[Stale] = []
    for source in sources(root):
        if not source.is_file():
            continue
        text = source.read_text()
        markdown = source.suffix == ".md"
        prose = text if markdown else python_prose(text)
        out.extend(stale_in(root, source, prose, markdown=markdown))
    return sorted(set(out))
