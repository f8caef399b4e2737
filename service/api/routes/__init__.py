"""Routers: memories, models, health."""
