"""What both EEN transports (v1 in exporter.een, v3 in exporter.v3) share: one bounded REST
exchange (rest.py), the watchdog that enforces its whole-call deadline (deadlines.py), JSON
reading (jsontext.py) and the streams' liveness rule (liveness.py). It imports neither
transport, so each can use it without the other."""
