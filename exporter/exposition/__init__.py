"""`/metrics` from the state: the text format rendered from the store, cached per account
(render.py), and the gzip answer built of cached compressed pieces as one standard gzip stream
(gzipstream.py). It reads the state side only; the HTTP side serves what it renders."""
