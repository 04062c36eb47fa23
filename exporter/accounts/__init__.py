"""The account engine, written once for both EEN APIs.

`discovery` is the discovery thread: which accounts to monitor (the filters, the shard), and
one `watcher` thread per account. `watcher` is one account's stream loop: start delay,
attempts, backoff, stop. `credentials` says whether EEN accepts the exporter's credentials.
`pacing` bounds how often anything knocks on the API. Each API plugs in through `cloud`: a
`Cloud` that discovers accounts and opens a `Watch` per account (v1's poll stream in
exporter.een, v3's server-sent events in exporter.v3). The engine imports neither API, only
the state side (exporter.state: model, store, selfmetrics, sharding).
"""
