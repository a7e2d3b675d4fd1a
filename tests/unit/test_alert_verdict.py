"""The soak's alert verdict on recorded timelines: each fault must raise its alerts while
it lasts, nothing may fire once the fleet has converged (except the alerts that look back
further than a soak, named with why), and an expectation no rule can meet fails too."""

from __future__ import annotations

from workers.soak.alert_verdict import EXPECTED, LINGERING, Firing, Window, close, intervals, judge

RULES = {name for groups in EXPECTED.values() for group in groups for name in group}
RULES |= set(LINGERING)
FAULTS = [
    Window("poison", 2.0, 2.0),
    Window("partition", 10.0, 45.0),
    Window("kill_worker", 16.0, 30.0),
    Window("postgres_down", 22.0, 100.0),
    Window("redis_restart", 40.0, 43.0),  # no alert expected of it
]


def healthy_timeline() -> list[Firing]:
    return [
        Firing("AgentqDeadLettersRising", 8.0, None, (("source", "messages"),)),
        Firing("AgentqNoWorkerForQueue", 20.0, 36.0, (("queue", "agent.quiz"),)),
        Firing("AgentqWorkerStalled", 25.0, 50.0, (("worker", "w3@soak"),)),
        Firing("AgentqDatabaseUnavailable", 30.0, 101.0),
        Firing("AgentqRecordingLagHigh", 90.0, 104.0),
        Firing("AgentqErrorRateHigh", 60.0, None, (("agent_type", "quiz_generator"),)),
    ]


def test_every_fault_raised_its_alerts_and_nothing_else_fires_at_the_end() -> None:
    v = judge(FAULTS, healthy_timeline(), settled_at=200.0, rules=RULES)
    assert v.ok, v.as_dict()
    assert v.raised == {
        "poison": ["AgentqDeadLettersRising"],
        "partition": ["AgentqNoWorkerForQueue", "AgentqWorkerStalled"],
        "kill_worker": ["AgentqNoWorkerForQueue", "AgentqWorkerStalled"],
        "postgres_down": ["AgentqDatabaseUnavailable", "AgentqRecordingLagHigh"],
    }
    assert [line.split(" (")[0] for line in v.lingering] == [
        "AgentqDeadLettersRising",
        "AgentqErrorRateHigh",
    ]


def test_a_fault_whose_alert_never_fired_fails_naming_it() -> None:
    timeline = [f for f in healthy_timeline() if f.alertname != "AgentqDatabaseUnavailable"]
    v = judge(FAULTS, timeline, settled_at=200.0, rules=RULES)
    assert not v.ok
    assert v.missing == ["postgres_down (22-100 s): none of AgentqDatabaseUnavailable fired"]


def test_an_alert_that_fired_only_outside_the_fault_does_not_count() -> None:
    # The database alert fired long before the outage, and again long after it.
    timeline = [f for f in healthy_timeline() if f.alertname != "AgentqDatabaseUnavailable"]
    timeline += [Firing("AgentqDatabaseUnavailable", 0.0, 5.0)]
    timeline += [Firing("AgentqDatabaseUnavailable", 100.0 + 61.0, 170.0)]
    v = judge(FAULTS, timeline, settled_at=200.0, rules=RULES)
    assert any(m.startswith("postgres_down") for m in v.missing), v.as_dict()


def test_an_alert_still_firing_after_convergence_fails() -> None:
    timeline = [
        *healthy_timeline(),
        Firing("AgentqWorkerStalled", 150.0, None, (("worker", "w2@soak"),)),
    ]
    v = judge(FAULTS, timeline, settled_at=200.0, rules=RULES)
    assert not v.ok
    assert v.still_firing == ["AgentqWorkerStalled (worker=w2@soak) firing since 150 s"]


def test_an_expectation_with_no_rule_in_the_file_fails() -> None:
    v = judge(
        FAULTS, healthy_timeline(), settled_at=200.0, rules=RULES - {"AgentqDeadLettersRising"}
    )
    assert not v.ok
    assert v.unknown == ["poison: no rule for any of AgentqDeadLettersRising"]


def test_range_query_samples_become_stretches() -> None:
    t0 = 1000.0
    series = [
        {
            "metric": {"__name__": "ALERTS", "alertname": "AgentqWorkerStalled", "worker": "w3"},
            # firing 1010-1014, a gap, firing again 1030-1032 (the query ends at 1032)
            "values": [[t, "1"] for t in (1010, 1012, 1014, 1030, 1032)],
        }
    ]
    got = intervals(series, t0, step=2.0)
    assert [(f.start, f.end) for f in got] == [(10.0, 14.0), (30.0, 32.0)]
    assert dict(got[0].labels)["worker"] == "w3"
    ongoing = close(got, {got[0].labels})
    assert [(f.start, f.end) for f in ongoing] == [(10.0, 14.0), (30.0, None)]
    assert ongoing[1].firing_at(500.0) and not ongoing[0].firing_at(20.0)
