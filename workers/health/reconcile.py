"""The reconciler in the health report: the last pass's findings (docs/reconcile.md).

Degraded while lost tasks await repair: the last pass found tasks recorded as waiting
whose message is nowhere and did not publish them again (repair off, or refused). A
report is only there once a pass ran (beat's, or ``agentq reconcile``).
"""

from __future__ import annotations

import time
from typing import Any

from persistence.formatting import one_line


def check_reconcile(url: str) -> dict[str, Any] | None:
    """The last pass's counts and what awaits repair; None before the first pass."""
    from workers.health.checks import _redis, _secrets
    from workers.reconcile.report import read_last

    client = _redis(url)
    try:
        last = read_last(client)
    except Exception as exc:
        return {"ok": False, "error": one_line(exc, secrets=_secrets(url))}
    finally:
        client.close()
    if last is None:
        return None
    return {
        "ok": True,
        "counts": last.get("counts") or {},
        "repaired": last.get("repaired") or {},
        "lost_awaiting_repair": int((last.get("awaiting_repair") or {}).get("lost") or 0),
        "age_seconds": round(time.time() - float(last.get("at") or 0), 1),
    }
