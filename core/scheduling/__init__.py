"""Scheduling: the pure availability engine, its time-zone edge, and (later) loader and roster."""
