"""Back office set-up pages: stores, services and staff (``admin.stores``,
``admin.services``, ``admin.staff`` and their sub-pages). The views live in the
``setup_*`` modules; importing them registers them on the admin blueprint."""

from __future__ import annotations

from . import setup_services, setup_staff, setup_stores  # noqa: F401 - views register on bp
