"""The HTTP side: what serves /metrics, /healthz, /readyz and the landing page, and who may ask.

- `endpoints`: the exporter's endpoints (`WebServer`, `PATHS`); a scrape reads only the store.
- `server`: the bounded HTTP/1.1 server under them (`HttpServer`, `Limits`): idle and slow
  clients cost a socket, never a thread.
- `auth`: basic auth against the web config's bcrypt hashes, on a pool of its own, and the
  rate limit.
- `config`: the exporter-toolkit's web config file (`--web.config.file`), reloaded on change;
  `configfile` reads it (strict YAML, typed fields); `tls` turns its `tls_server_config` into
  an `ssl.SSLContext`.
- `gzipstream`: one gzip stream joined from pieces compressed at different times (the
  exposition caches compressed blocks).

Log lines keep the logger names these modules had before they were gathered here
(`exporter.web`, `exporter.httpserver`, `exporter.webauth`, `exporter.webconfig`), so what
operators filter on does not change.
"""
