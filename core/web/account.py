"""Logging in and out of the pages: password for staff and the back office, phone and
SMS code for customers (the first login creates the customer, as in the API)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ..auth import sms, tokens
from ..errors import FulianError
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
                user = tokens.login(form.get("login"), form.values["password"])
                log_in(user)
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
    if request.method == "POST":
        form = Form.submitted()
        step = "code" if form.get("code") or form.get("step") == "code" else "phone"
        try:
            if step == "phone":
                sms.request_code(form.get("phone"))
                step = "code"
                flash(_("We sent a code to %(phone)s.", phone=form.get("phone")), "info")
            else:
                user = sms.login_with_code(form.get("phone"), form.get("code"))
                log_in(user)
                return redirect(safe_next(url_for("customer.my_bookings")))
        except FulianError as exc:
            form.fail(exc)
            if not form.errors:
                form.errors["code" if step == "code" else "phone"] = [str(exc.message)]
    dev_sms = current_app.config.get("FULIAN_SMS_PROVIDER", "dev") == "dev"
    return render_template("auth/customer_login.html", form=form, step=step,
                           dev_sms=dev_sms), 200 if form.ok else 422


@bp.post("/logout")
def logout() -> Any:
    was_customer = page_user() is not None and not is_back_office_user(page_user()) \
        and staff_profile(page_user()) is None
    log_out()
    flash(_("You are logged out."), "info")
    return redirect(url_for("home.index") if was_customer else url_for("account.login"))
