"""Customers: the only writer of customer rows, tags and notes."""
