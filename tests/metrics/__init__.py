"""Tests of the metrics package: the DuckDB store and the price table."""
