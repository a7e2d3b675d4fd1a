"""OpenTelemetry traces of every agent task (docs/observability.md#traces).

Off unless the standard ``OTEL_*`` variables ask for it (:mod:`.setup`); when off, no
hook is connected and nothing runs per task. When on, one trace per task:

* ``enqueue <agent_type>`` (producer side, :mod:`.hooks`): the publish; its W3C context
  travels in the Celery message headers (``traceparent``) to the worker, and on to each
  retry's message (published inside the run span);
* ``queued <agent_type>``: the wait in the queue, from the publish to the run;
* ``run <agent_type>``: the run of one attempt (each retry is a new one);
* ``record <status>`` (:mod:`.commits`): the recorder's commit of each transition, in
  the task's trace, linked to the ``record batch`` span of the commit that carried it.

The trace id is stored on the execution row (``agent_executions.trace_id``).
"""
