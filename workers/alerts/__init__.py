"""The fleet's Prometheus alert rules (``deploy/prometheus/alerts.yml``) as tests and the
soak run them: the same file with every ``for:`` scaled (:mod:`workers.alerts.render`)."""
