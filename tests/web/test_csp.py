"""The Content-Security-Policy holds on the real pages: no page writes an inline style
attribute or an inline script (the policy would block them), every ``<style>`` carries the
request's nonce, and in a real browser the customer home page, the back office (the day
calendar, whose geometry is a nonce'd style block, and the brand page) and the API docs
(Swagger UI) render without a single CSP violation."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.web.conftest import Site, login
from tests.web.test_every_page import PAGES, _client

TZ = ZoneInfo("Asia/Shanghai")
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
STYLE_TAG = re.compile(r"<style\b([^>]*)>", re.IGNORECASE)
# Collected in the page before any of its scripts run.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline"));
});
"""


def test_no_page_needs_unsafe_inline(site: Site) -> None:
    tomorrow = (datetime.now(TZ).date() + timedelta(days=1)).isoformat()
    extra = {"owner": [f"/admin/calendar?store=1&date={tomorrow}"]}
    for who, urls in PAGES.items():
        client = _client(site, who)
        for url in [*urls, *extra.get(who, [])]:
            resp = client.get(url)
            assert resp.status_code == 200, (who, url)
            html = resp.get_data(as_text=True)
            nonce = resp.headers["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
            assert not re.search(r"\sstyle=", html), (url, "inline style attribute")
            assert not INLINE_SCRIPT.search(html), (url, "inline script")
            assert not re.search(r"\son[a-z]+=\"", html), (url, "inline event handler")
            for attrs in STYLE_TAG.findall(html):
                assert f'nonce="{nonce}"' in attrs, (url, attrs)


def test_the_browser_reports_no_csp_violation(page: Any, site: Site) -> None:
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.on("pageerror", lambda exc: console.append(str(exc)))
    page.add_init_script(RECORD_VIOLATIONS)
    violations: list[str] = []

    def visit(url: str, ready: str) -> None:
        page.goto(url)
        page.locator(ready).first.wait_for()
        page.wait_for_load_state("load")
        violations.extend(f"{url}: {v}" for v in page.evaluate("window.__cspViolations"))

    visit("/", "main")
    login(page, "owner")
    tomorrow = (datetime.now(TZ).date() + timedelta(days=1)).isoformat()
    visit(f"/admin/calendar?store=1&date={tomorrow}", ".ops-block")
    # The grid geometry from the nonce'd <style> applies: blocks sit in staff columns.
    column = page.locator(".ops-block").first.evaluate(
        "e => getComputedStyle(e).gridColumnStart")
    assert column.isdigit() and int(column) >= 2, column
    visit("/admin/brand", ".su-swatch-primary")
    assert page.locator(".su-swatch-primary").evaluate(
        "e => getComputedStyle(e).backgroundColor") not in ("", "rgba(0, 0, 0, 0)")
    visit("/api/docs", ".swagger-ui .opblock")  # Swagger UI rendered the operations

    csp = [m for m in console if "Content Security Policy" in m]
    assert csp == [] and violations == [], (csp, violations)
