"""A small PostgREST for tests: supabase-py's HTTP boundary, answered from real PostgreSQL.

No PostgREST binary runs here, so this threading HTTP server speaks the part of the
PostgREST protocol our backend uses (https://postgrest.org/en/stable/references/api):

* ``GET /rest/v1/<table>?select=…&<col>=<op>.<value>&order=…&limit=…`` (ops: eq, neq,
  gt, gte, lt, lte, is, in);
* ``POST /rest/v1/<table>[?on_conflict=<cols>]`` with ``Prefer: return=representation |
  minimal`` and ``resolution=merge-duplicates`` (an upsert); 201, the rows when asked;
* ``PATCH /rest/v1/<table>?<filters>``; 200 with the rows, or 204;
* ``DELETE /rest/v1/<table>?<filters>``; 200 with the rows, or 204;
* ``POST /rest/v1/rpc/<function>`` with named JSON arguments; the function's rows.

Rows are converted the way PostgREST does it (``json_populate_recordset`` in, ``json_agg``
out), so types, defaults and constraints are PostgreSQL's own. Errors come back as
PostgREST's JSON (``code`` = SQLSTATE; 409 for unique violations, 400 otherwise).
Every request is recorded; ``fail(n, status)``, ``slow(seconds)`` and ``down`` inject
faults.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql

PREFIX = "/rest/v1/"
_OPS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    @property
    def prefer(self) -> set[str]:
        return {p.strip() for p in self.headers.get("prefer", "").split(",") if p.strip()}


@dataclass
class FakePostgrest:
    """The server; ``url`` is what ``SUPABASE_URL`` would be."""

    database_url: str  # libpq URL of the database it serves
    requests: list[Request] = field(default_factory=list)
    down: bool = False
    _failures: list[int] = field(default_factory=list)
    _delay: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> FakePostgrest:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail(self, n: int, status: int = 503) -> None:
        """The next ``n`` requests get ``status`` without touching the database."""
        with self._lock:
            self._failures.extend([status] * n)

    def slow(self, seconds: float) -> None:
        """Every request waits this long before answering (0: no wait)."""
        self._delay = seconds

    def take_failure(self) -> int | None:
        with self._lock:
            if self.down:
                return 503
            return self._failures.pop(0) if self._failures else None

    def calls(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or r.path == path)
        ]


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakePostgrest
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server_fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        req = Request(
            method=method,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=json.loads(raw) if raw else None,
        )
        fake.requests.append(req)
        if fake._delay:
            time.sleep(fake._delay)
        status = fake.take_failure()
        if status is not None:
            self._send(status, _error("PGRST001", "Database client error. Retrying."))
            return
        try:
            code, body = _answer(fake.database_url, req)
        except psycopg.OperationalError as exc:
            code, body = 503, _error("PGRST000", str(exc).splitlines()[0])
        except psycopg.Error as exc:
            state = exc.sqlstate or "XX000"
            code = 409 if state == "23505" else 400
            body = _error(state, str(exc).splitlines()[0])
        self._send(code, body)

    def _send(self, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "details": None, "hint": None}


# --- requests as SQL ---------------------------------------------------------------------
def _answer(database_url: str, req: Request) -> tuple[int, Any]:
    name = req.path[len(PREFIX) :] if req.path.startswith(PREFIX) else ""
    if not name:
        return 200, {"swagger": "2.0"}  # the root: PostgREST's OpenAPI document
    with psycopg.connect(database_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        if name.startswith("rpc/"):
            return 200, _rpc(conn, name[4:], req.body or {})
        types = _column_types(conn, name)
        if req.method == "GET":
            return 200, _select(conn, name, types, req)
        rows = _write(conn, name, types, req)
    if "return=representation" not in req.prefer:
        return (201 if req.method == "POST" else 204), None
    return (201 if req.method == "POST" else 200), rows


def _column_types(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
        "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped",
        (table,),
    ).fetchall()
    if not rows:
        raise psycopg.errors.UndefinedTable(f'relation "{table}" does not exist')
    return {str(r[0]): str(r[1]) for r in rows}


def _where(req: Request, types: dict[str, str], table: str) -> tuple[sql.Composable, list[Any]]:
    conds: list[sql.Composable] = []
    params: list[Any] = []
    reserved = {"select", "order", "limit", "offset", "on_conflict", "columns"}
    for key, value in req.query:
        if key in reserved:
            continue
        op, _, arg = value.partition(".")
        col, typ = sql.Identifier(table, key), sql.SQL(types[key])
        if op == "is":
            conds.append(sql.SQL("{} IS {}").format(col, sql.SQL(arg.upper())))
        elif op == "in":
            items = [v.strip().strip('"') for v in arg.strip("()").split(",") if v.strip()]
            conds.append(sql.SQL("{} = ANY(CAST(%s AS {}[]))").format(col, typ))
            params.append(items)
        else:
            conds.append(sql.SQL("{} {} CAST(%s AS {})").format(col, sql.SQL(_OPS[op]), typ))
            params.append(arg)
    if not conds:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conds), params


def _select(conn: psycopg.Connection[Any], table: str, types: dict[str, str], req: Request) -> Any:
    select = req.param("select") or "*"
    cols = (
        sql.SQL("*")
        if select == "*"
        else sql.SQL(", ").join(sql.Identifier(c) for c in select.split(","))
    )
    where, params = _where(req, types, table)
    order: list[sql.Composable] = []
    for k, v in req.query:
        if k != "order":
            continue
        for term in v.split(","):
            col, *mods = term.split(".")
            words = " ".join(m.upper().replace("NULLS", "NULLS ") for m in mods)
            order.append(sql.SQL("{} {}").format(sql.Identifier(col), sql.SQL(words)))
    query = sql.SQL("SELECT {} FROM {}{}").format(cols, sql.Identifier(table), where)
    if order:
        query += sql.SQL(" ORDER BY ") + sql.SQL(", ").join(order)
    if req.param("limit"):
        query += sql.SQL(" LIMIT {}").format(sql.Literal(int(req.param("limit") or 0)))
    wrapped = sql.SQL("SELECT COALESCE(json_agg(x), '[]') FROM ({}) x").format(query)
    row = conn.execute(wrapped, params).fetchone()
    return row[0] if row else []


def _write(conn: psycopg.Connection[Any], table: str, types: dict[str, str], req: Request) -> Any:
    ident = sql.Identifier(table)
    if req.method == "DELETE":
        where, params = _where(req, types, table)
        stmt: sql.Composable = sql.SQL("DELETE FROM {t}{where} RETURNING {t}.*").format(
            t=ident, where=where
        )
        wrapped = sql.SQL("WITH w AS ({}) SELECT COALESCE(json_agg(w), '[]') FROM w").format(stmt)
        row = conn.execute(wrapped, params).fetchone()
        return row[0] if row else []
    body = req.body if isinstance(req.body, list) else [req.body]
    cols = list(dict.fromkeys(k for row in body for k in row))
    col_list = sql.SQL(", ").join(sql.Identifier(c) for c in cols)
    if req.method == "PATCH":
        where, params = _where(req, types, table)
        sets = sql.SQL(", ").join(sql.SQL("{0} = r.{0}").format(sql.Identifier(c)) for c in cols)
        stmt = sql.SQL(
            "UPDATE {t} SET {sets} FROM jsonb_populate_record(NULL::{t}, %s::jsonb) r{where} "
            "RETURNING {t}.*"
        ).format(t=ident, sets=sets, where=where)
        params = [json.dumps(body[0]), *params]
    else:
        stmt = sql.SQL(
            "INSERT INTO {t} ({cols}) "
            "SELECT {cols} FROM jsonb_populate_recordset(NULL::{t}, %s::jsonb)"
        ).format(t=ident, cols=col_list)
        conflict = req.param("on_conflict")
        if conflict and "resolution=merge-duplicates" in req.prefer:
            keys = [c for c in conflict.split(",")]
            sets = sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in cols
            )
            stmt += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                sql.SQL(", ").join(sql.Identifier(k) for k in keys), sets
            )
        elif conflict and "resolution=ignore-duplicates" in req.prefer:
            stmt += sql.SQL(" ON CONFLICT DO NOTHING")
        stmt += sql.SQL(" RETURNING *")
        params = [json.dumps(body)]
    wrapped = sql.SQL("WITH w AS ({}) SELECT COALESCE(json_agg(w), '[]') FROM w").format(stmt)
    row = conn.execute(wrapped, params).fetchone()
    return row[0] if row else []


def _rpc(conn: psycopg.Connection[Any], fn: str, args: dict[str, Any]) -> Any:
    # Untyped literals: PostgreSQL resolves them to the function's json / jsonb / text
    # parameters, as PostgREST's call by argument names does.
    named = sql.SQL(", ").join(
        sql.SQL("{} => {}").format(sql.Identifier(k), sql.Literal(json.dumps(v)))
        for k, v in args.items()
    )
    query = sql.SQL("SELECT COALESCE(json_agg(x), '[]') FROM {}({}) x").format(
        sql.Identifier(fn), named
    )
    row = conn.execute(query).fetchone()
    return row[0] if row else []
