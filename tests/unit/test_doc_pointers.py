"""Every repository path and named query that the docs (docs/*.md, README.md,
bench/README.md) and the comments and docstrings of workers/, tasks/, persistence/ and
bench/ cite exists (the finder is tests/support/doc_pointers.py)."""

from __future__ import annotations

from pathlib import Path

from tests.support.doc_pointers import (
    cited_paths,
    cited_queries,
    python_prose,
    stale_in,
    stale_pointers,
)
from tests.support.workers import ROOT


def test_every_cited_path_and_named_query_exists() -> None:
    stale = stale_pointers(ROOT)
    assert stale == [], "stale pointers:\n" + "\n".join(map(str, stale))


def _repo(tmp_path: Path) -> Path:
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "here.py").write_text('"""Nothing."""\n')
    (tmp_path / "persistence" / "sql").mkdir(parents=True)
    (tmp_path / "persistence" / "sql" / "queries.sql").write_text("-- name: ok\nSELECT 1\n")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# other\n")
    return tmp_path


def test_a_planted_stale_path_query_and_link_are_found(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    doc = root / "docs" / "a.md"
    doc.write_text(
        "See `workers/here.py` and `workers/gone.py`, [other](other.md#x), [lost](lost.md),\n"
        "``persistence/sql/queries.sql`` (ok) and `queries.sql` (`upsert_executions`).\n"
    )
    found = {
        (s.cited, s.why.split()[0]) for s in stale_in(root, doc, doc.read_text(), markdown=True)
    }
    assert found == {
        ("workers/gone.py", "no"),
        ("lost.md", "link"),
        ("queries.sql (upsert_executions)", "no"),
    }


def test_the_whole_tree_is_walked(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    (root / "README.md").write_text("Start at `docs/other.md`.\n")
    (root / "workers" / "mod.py").write_text(
        '"""Hooks write it (``workers/events.py``)."""\n'
        "# made by persistence/old.py\n"
        'x = "workers/here.py"\n'
    )
    assert [(s.source, s.cited) for s in stale_pointers(root)] == [
        ("workers/mod.py", "persistence/old.py"),
        ("workers/mod.py", "workers/events.py"),
    ]


def test_what_is_not_a_path_is_not_checked() -> None:
    text = (
        "1 632 tasks/s, `persistence/sql/*.sql`, `workers/<name>.py`, "
        "https://example.com/docs/x.md, ~/workers/y, a/workers/z, $HOME/docs/q, "
        "`0004_supabase_rls.sql` (idempotent)"
    )
    assert list(cited_paths(text)) == []
    assert list(cited_queries(text)) == [("0004_supabase_rls.sql", "idempotent")]


def test_paths_lose_their_trailing_punctuation() -> None:
    text = "in workers/serve/api.py. Then docs/cli.md, and README.md: done; workers/beat/"
    assert list(cited_paths(text)) == [
        "workers/serve/api.py",
        "docs/cli.md",
        "README.md",
        "workers/beat/",
    ]


def test_only_comments_and_strings_of_python_are_prose() -> None:
    source = (
        'import workers\n# workers/a.py\ndef f() -> str:\n    """docs/b.md"""\n    return x / y\n'
    )
    assert list(cited_paths(python_prose(source))) == ["workers/a.py", "docs/b.md"]
