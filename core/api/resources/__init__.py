"""Resource endpoints under ``/api/v1``: the caller (``/me``), stores, the service
catalogue, staff and their schedules, customers (CRM) and the audit log.

Shared rules: ids in paths use the ``<id:...>`` converter (1..2**31-1, else 404); lists
are paginated in the body (:mod:`.pagination`); what the caller may not see is 404,
what they may see but not change is 403; every write goes through a service under
:func:`core.api.common.audited`, so the audit log names the user.
"""
