"""The organisation: brand, stores, users and staff. The only writers of those rows."""
