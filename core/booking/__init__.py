"""Bookings: the lifecycle and the booking service, the only writer of bookings."""
