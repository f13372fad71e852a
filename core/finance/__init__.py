"""Money: the append-only double-entry ledger (orders, payments and refunds build on it)."""
