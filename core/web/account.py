"""Logging in and out of the pages: password for staff and the back office, phone and
SMS code for customers (the first login creates the customer, as in the API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..auth import sessions as web_sessions
from ..auth import sms, tokens
from ..errors import FulianError, TooManyRequests
from .forms import Form
from .session import is_back_office_user, log_in, log_out, page_user, safe_next, staff_profile

bp = Blueprint("account", __name__)


def landing(user: Any) -> str:
    """Where a user lands after logging in without a ``next`` page."""
    if is_back_office_user(user):
        return url_for("admin.dashboard")
    if staff_profile(user) is not None:
        return url_for("staff_app.today")
    return url_for("customer.my_bookings")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Password login for staff and the back office."""
    form = Form()
    if request.method == "POST":
        form = Form.submitted()
        try:
            if not form.get("login") or not form.get("password"):
                form.errors["login"] = [_("Enter your e-mail or phone and your password.")]
            else:
                try:
                    user = tokens.login(form.get("login"), form.values["password"])
                except tokens.AuthenticationFailed as exc:
                    web_sessions.audit_failed_login("web", "password", form.get("login"), exc)
                    raise
                log_in(user, "password")
                return redirect(safe_next(landing(user)))
        except FulianError as exc:
            form.message = str(exc.message)
        form.values.pop("password", None)
    return render_template("auth/login.html", form=form), 200 if form.ok else 422


@bp.route("/me/login", methods=["GET", "POST"])
def customer_login() -> Any:
    """Phone, then the six-digit code sent by SMS."""
    form = Form({"phone": request.args.get("phone", "")})
    step = "phone"
    retry: dict[str, str] = {}
    if request.method == "POST":
        form = Form.submitted()
        step = "code" if form.get("code") or form.get("step") == "code" else "phone"
        try:
            if step == "phone":
                sms.request_code(form.get("phone"))
                web_sessions.audit_sms_code("web", form.get("phone"))
                step = "code"
                flash(_("We sent a code to %(phone)s.", phone=form.get("phone")), "info")
            else:
                try:
                    user = sms.login_with_code(form.get("phone"), form.get("code"))
                except tokens.AuthenticationFailed as exc:
                    web_sessions.audit_failed_login("web", "sms", form.get("phone"), exc)
                    raise
                log_in(user, "sms")
                return redirect(safe_next(url_for("customer.my_bookings")))
        except FulianError as exc:
            form.fail(exc)
            if not form.errors:
                form.errors["code" if step == "code" else "phone"] = [str(exc.message)]
            if isinstance(exc, TooManyRequests):  # too many codes: the form again, 429
                retry = {"Retry-After": str(exc.retry_after)}
    dev_sms = current_app.config.get("FULIAN_SMS_PROVIDER", "dev") == "dev"
    return render_template("auth/customer_login.html", form=form, step=step,
                           dev_sms=dev_sms), 429 if retry else 200 if form.ok else 422, retry


@bp.post("/logout")
def logout() -> Any:
    """End the page session on the server too (audited), not just the cookie."""
    was_customer = page_user() is not None and not is_back_office_user(page_user()) \
        and staff_profile(page_user()) is None
    log_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("home.index") if was_customer else url_for("account.login"))
