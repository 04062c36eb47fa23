"""`een-exporter report`: camera availability per account for a month, read from Prometheus.

It asks Prometheus' HTTP API for the series of rules/availability.yml (docs/availability.md)
and knows nothing of EEN: it imports no transport, engine or state module of the exporter.
"""
