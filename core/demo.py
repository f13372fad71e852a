"""Demo data for ``fulian demo``: a believable spa brand a newcomer can click through.

Idempotent: it does nothing if the demo stores already exist. Written through the same
services ops use, so the demo also exercises validation and the audit trail.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select

from .booking.service import create_booking
from .catalog.services import add_service
from .crm.customers import find_or_create
from .db import write_transaction
from .extensions import db
from .finance import callbacks, orders, sandbox
from .models import Booking, BrandSettings, Service, StaffProfile, Store
from .org.brand import update_brand
from .org.staff import add_staff
from .org.stores import create_store
from .plugins import plugins

DEMO_OWNER_EMAIL = "owner@demo.fulian.local"
DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - published demo credential, demo data only

STORES = [
    {"code": "xuhui", "name": "青玉 徐汇旗舰店", "address": "上海市徐汇区衡山路 88 号",
     "phone": "021-6431 8800", "hours": "mon-fri 10:00-21:00; sat,sun 09:30-22:00"},
    {"code": "jingan", "name": "青玉 静安店", "address": "上海市静安区南京西路 1266 号 3 楼",
     "phone": "021-6288 1266", "hours": "mon-sun 10:00-21:00"},
]

SERVICES = [
    # name, category, minutes, price (fen), buffer after, description
    ("经典补水面部护理", "面部护理", 60, 28800, 10, "深层清洁、补水导入与舒缓面膜。"),
    ("焕颜抗衰面部护理", "面部护理", 90, 58800, 15, "胶原紧致疗程，适合熟龄肌。"),
    ("肩颈舒缓按摩", "身体护理", 45, 19800, 10, "针对久坐人群的肩颈放松。"),
    ("全身精油 SPA", "身体护理", 90, 49800, 15, "芳香精油全身按摩，深度放松。"),
    ("精致剪发", "美发", 45, 16800, 5, "洗、剪、吹造型。"),
    ("头皮养护", "美发", 60, 26800, 10, "头皮清洁与养护，改善头皮健康。"),
]

#: services that ask a deposit when booked online (the hold-and-pay flow of the demo)
DEPOSIT_PERCENT = {"全身精油 SPA": 20}

STAFF = [
    # name, email, store codes, title, level, service names, specialities
    ("林雅 Lin Ya", "linya@demo.fulian.local", ["xuhui"], "资深美容师", "L3",
     ["经典补水面部护理", "焕颜抗衰面部护理"], ["抗衰", "敏感肌"]),
    ("陈静 Chen Jing", "chenjing@demo.fulian.local", ["xuhui"], "理疗师", "L2",
     ["肩颈舒缓按摩", "全身精油 SPA"], ["肩颈", "芳疗"]),
    ("王磊 Wang Lei", "wanglei@demo.fulian.local", ["xuhui", "jingan"], "首席发型师", "L4",
     ["精致剪发", "头皮养护"], ["短发造型"]),
    ("赵敏 Zhao Min", "zhaomin@demo.fulian.local", ["jingan"], "美容师", "L2",
     ["经典补水面部护理", "肩颈舒缓按摩"], ["补水"]),
    ("周可 Zhou Ke", "zhouke@demo.fulian.local", ["jingan"], "理疗师", "L3",
     ["全身精油 SPA", "肩颈舒缓按摩", "头皮养护"], ["芳疗", "头疗"]),
]

CUSTOMERS = [
    ("13800138001", "张小姐", ["高价值"]), ("13800138002", "李先生", []),
    ("13800138003", "王女士", ["敏感肌"]), ("13800138004", "刘小姐", ["新客"]),
    ("13800138005", "陈先生", []), ("13800138006", "Emily Smith", ["高价值"]),
]


def load_demo() -> str:
    """Create the demo brand's data; return a one-line summary."""
    if db.session.scalars(select(Store.id).where(Store.code == "xuhui")).first():
        return _("Demo data already present; left unchanged.")
    update_brand({"name": "青玉 Jade Spa"})
    with write_transaction() as session:
        session.get(BrandSettings, 1).theme = "jade"
    for spec in STORES:
        spec = dict(spec)
        hours = spec.pop("hours")
        create_store({**spec, "timezone": "Asia/Shanghai"}, hours=hours)
    for name, category, minutes, price, after, desc in SERVICES:
        add_service({"name": name, "duration_min": minutes, "price": price,
                     "buffer_after_min": after, "description": desc,
                     "deposit_percent": DEPOSIT_PERCENT.get(name)}, category=category)
    for name, email, stores, title, level, services, specialities in STAFF:
        add_staff({"name": name, "email": email, "password": DEMO_PASSWORD},
                  {"title": title, "level": level, "specialities": specialities,
                   "bio": f"{title}，从业多年，擅长{'、'.join(specialities)}。"},
                  stores=stores, services=services)
    _demo_schedules()
    with write_transaction():
        customers = [find_or_create(phone, name, "online", tags)
                     for phone, name, tags in CUSTOMERS]
    bookings = _demo_bookings(customers)
    with write_transaction():
        brand = db.session.get(BrandSettings, 1)
        plugins().call("fulian_demo_data", brand=brand)
    return _("Demo brand ready: %(stores)d stores, %(staff)d staff, %(services)d services, "
             "%(customers)d customers, %(bookings)d bookings.", stores=len(STORES),
             staff=len(STAFF), services=len(SERVICES), customers=len(customers),
             bookings=bookings)


def _demo_schedules() -> None:
    """Breaks for two people, coverage needs per store, and next week's draft roster."""
    from .scheduling import rostering, schedules

    staff = {s.display_name: s for s in db.session.scalars(select(StaffProfile))}
    schedules.set_weekly(staff["林雅 Lin Ya"].id, "xuhui",
                         "mon-fri 10:00-13:00,14:00-19:00; sat 10:00-16:00")
    schedules.set_weekly(staff["赵敏 Zhao Min"].id, "jingan",
                         "tue-sun 11:00-15:00,16:00-21:00")
    schedules.add_coverage("xuhui", "mon-sun 10:00-21:00", 2)
    schedules.add_coverage("xuhui", "sat,sun 14:00-18:00", 1, "精致剪发")
    schedules.add_coverage("jingan", "mon-sun 10:00-21:00", 1)
    next_week = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=7))
    iso = next_week.isocalendar()
    for store in ("xuhui", "jingan"):
        rostering.generate(store, f"{iso.year}-W{iso.week:02d}")


def _demo_bookings(customers: list) -> int:
    """About two bookings per staff member on each of the next three days: the first free
    slots from 11:00 and from 15:00 store time, so the demo respects every schedule."""
    from .scheduling.loader import load_window

    tz = ZoneInfo("Asia/Shanghai")
    today = datetime.now(tz).date()
    now = int(datetime.now(tz).timestamp())
    count = 0
    staff_rows = db.session.scalars(select(StaffProfile).order_by(StaffProfile.id)).all()
    for day_offset in range(1, 4):
        day = today + timedelta(days=day_offset)
        for n, staff in enumerate(staff_rows):
            store = staff.stores[0]
            for slot, hour in enumerate((11, 15)):
                service: Service = staff.services[(slot + day_offset) % len(staff.services)]
                window = load_window(db.session.connection(), store.id, service.id, day, day,
                                     staff_id=staff.id)
                db.session.rollback()
                after = int(datetime.combine(day, time(hour, 0), tzinfo=tz).timestamp())
                start_ts = next((ts for ts, _who in window.slots(now) if ts >= after), None)
                if start_ts is None:
                    continue
                customer = customers[(n + slot + day_offset) % len(customers)]
                booking = create_booking(store=store, staff=staff, service=service,
                                         customer=customer,
                                         start_at=datetime.fromtimestamp(start_ts, tz),
                                         source="online" if slot else "phone")
                if booking.status == "awaiting_deposit":
                    _pay_deposit_online(booking)
                count += 1
    return count


def _pay_deposit_online(booking: Booking) -> None:
    """The demo customer pays the deposit through the sandbox provider's full cycle."""
    order = orders.order_of(booking.id)
    provider = sandbox.SandboxProvider()
    payment = orders.start_online(order.id, "sandbox", order.deposit, provider.new_reference())
    body = sandbox.notice_body(payment.external_ref, payment.amount)
    callbacks.handle("sandbox", body, {sandbox.SIGNATURE_HEADER: sandbox.sign(body)})


def license_paid_plugins() -> list[str]:
    """Demo deployments only: license every installed paid plugin with the demo key (a
    year, ten stores) and enable them, so a newcomer sees the whole product at once.
    Returns the plugins it enabled. Production never trusts the demo key."""
    from datetime import date

    from flask import current_app

    from . import licensing
    from .models import InstalledLicense
    from .org.brand import get_brand

    if current_app.config.get("FULIAN_ENV") != "demo":
        return []
    registry = plugins()
    paid = sorted(n for n, p in registry.installed.items() if p.meta.paid)
    if not paid:
        return []
    if not registry.license_status().valid:
        document = licensing.issue(
            licensing.demo_private_pem(), deployment_id=get_brand().deployment_id,
            licensee=_("Demo"), plugins=paid, max_stores=10,
            expires_at=date.today() + timedelta(days=365))
        with write_transaction() as session:
            session.add(InstalledLicense(document=document))
        registry.refresh()
    enabled = []
    for name in paid:
        needs = registry.installed[name].meta.requires
        if not registry.is_enabled(name) and registry.license_status().covers(name) \
                and registry.installed[name].compatible \
                and all(registry.is_enabled(r) for r in needs):
            registry.set_enabled(name, True)
            enabled.append(name)
    return enabled
