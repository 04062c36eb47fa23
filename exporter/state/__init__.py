"""What the exporter knows, whichever API told it: the model of accounts, devices and stream
updates (model.py), the one store every account thread writes and every scrape reads
(store.py), how EEN's statuses decode (status.py), the poll-stream event codes (eventcodes.py),
the exporter's own metrics (selfmetrics.py) and which accounts a shard owns (sharding.py). It
imports nothing else of the exporter: the transports, the engine and the exposition import
it."""
