"""What the brand sells: categories and services. The only writer of those rows."""
