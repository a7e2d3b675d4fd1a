"""Throwaway PostgreSQL and Redis servers for fault tests: the soak's own
(``workers/soak/servers.py``), on ports of their own; the machine's servers are never
touched."""

from workers.soak.servers import PostgresServer, RedisServer, free_port

__all__ = ["PostgresServer", "RedisServer", "free_port"]
