"""The core data model. Importing this package registers every core table."""

from .availability import STORE_WIDE, AvailabilityVersion
from .booking import (
    ACTIVE_STATUSES,
    BOOKING_SOURCES,
    BOOKING_STATUSES,
    Booking,
    BookingStatusChange,
)
from .brand import BrandSettings
from .catalog import Service, ServiceCategory, StoreServiceOffer
from .customer import CUSTOMER_SOURCES, Customer, CustomerNote, CustomerTag
from .idempotency import IdempotencyRecord
from .integration import SmsCode, SmsMessage, WebhookDelivery, WebhookSubscription
from .ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from .order import (
    ORDER_STATUSES,
    Order,
    OrderAdjustment,
    OrderLine,
    Payment,
    PaymentCallback,
    Refund,
)
from .schedule import (
    AvailabilityOverride,
    CoverageRule,
    Roster,
    RosterShift,
    TimeOff,
    WeeklyAvailability,
)
from .session import WebSession
from .staff import StaffProfile, staff_services, staff_stores
from .store import STORE_STATUSES, OpeningHours, Store, StoreHoliday
from .system import (
    AuditEntry,
    InstalledLicense,
    JobRecord,
    PluginSettings,
    PluginState,
)
from .user import BRAND_ROLES, ROLES, ApiToken, AuthFailure, RoleAssignment, User

__all__ = [
    "LedgerAccount", "LedgerEntry", "LedgerTransaction",
    "ORDER_STATUSES", "Order", "OrderAdjustment", "OrderLine", "Payment", "PaymentCallback",
    "Refund",
    "SmsCode", "SmsMessage", "WebhookDelivery", "WebhookSubscription",
    "ApiToken", "AuthFailure", "WebSession",
    "STORE_WIDE", "AvailabilityVersion",
    "AvailabilityOverride", "CoverageRule", "IdempotencyRecord", "Roster", "RosterShift",
    "TimeOff", "WeeklyAvailability",
    "ACTIVE_STATUSES", "AuditEntry", "BOOKING_SOURCES", "BOOKING_STATUSES", "BRAND_ROLES",
    "Booking", "BookingStatusChange", "BrandSettings", "CUSTOMER_SOURCES", "Customer",
    "CustomerNote", "CustomerTag", "InstalledLicense", "JobRecord", "OpeningHours",
    "PluginSettings", "PluginState", "ROLES", "RoleAssignment", "STORE_STATUSES", "Service",
    "ServiceCategory",
    "StaffProfile", "Store", "StoreHoliday", "StoreServiceOffer", "User", "staff_services",
    "staff_stores",
]
