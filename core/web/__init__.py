"""Server-rendered pages of the three faces (customer, staff, admin)."""
