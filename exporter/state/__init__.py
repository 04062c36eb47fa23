"""What the exporter knows, whichever API told it: the model of accounts, devices and stream
updates (model.py), the one store every account thread writes and every scrape reads
(store.py), how EEN's statuses decode (status.py), the poll-stream event codes (eventcodes.py)
and the exporter's own metrics (selfmetrics.py). It imports no transport and no account
engine: they import it."""
