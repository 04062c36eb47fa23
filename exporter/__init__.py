"""Prometheus exporter for Eagle Eye Networks (EEN) cloud cameras and bridges."""

__version__ = "0.1.0"
