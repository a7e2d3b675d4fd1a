"""The reconciler: compares the record with the broker and repairs the difference.

    from workers.reconcile import reconcile_once
    report = reconcile_once(repair=True, grace_s=300)
    report.counts     # {"lost": 0, "unrecorded": 0, "stuck": 0, "expired": 0, "revoked": 0}

A module per idea: ``broker_view`` (what the broker holds), ``record_view`` (what the
record says is open), ``compare`` (the kinds, a pure function), ``repair``, ``report``,
``run`` (one pass). See docs/reconcile.md.
"""

from __future__ import annotations

from workers.reconcile.kinds import KINDS
from workers.reconcile.report import ReconcileReport
from workers.reconcile.run import reconcile_once

__all__ = ["KINDS", "ReconcileReport", "reconcile_once"]
