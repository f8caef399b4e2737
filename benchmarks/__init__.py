"""Benchmarks: each prints a table and returns a JSON-ready dict."""
