"""Every page of the app opens cleanly — no console error — at desktop and phone widths, light and dark,
and a viewer gets a read-only app."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ADMIN_PASSWORD, Console, Server, login

PAGES = {
    "/": "[data-test=runs-chart]",
    "/scripts": "[data-test=new-script]",
    "/scripts/new": "[data-test=code-editor] .cm-content",
    "/executions": "[data-test=executions-table]",
    "/schedules": "[data-test=new-schedule]",
    "/schedules/new": "[data-test=cron-preview]",
    "/account": "[data-test=new-token]",
    "/admin/users": "[data-test=user-list]",
    "/admin/audit": "[data-test=audit-list]",
    "/admin/notifications": "[data-test=channel-list]",
    "/admin/variables": "[data-test=variable-list]",
}


@pytest.mark.parametrize("width", [1280, 390])
def test_every_page_opens_without_errors(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 860})
    login(page)
    for path, ready in PAGES.items():
        page.goto(path)
        expect(page.locator(ready).first).to_be_visible()
        expect(page.locator(".page-header h1").first).to_be_visible()
    page.goto("/no/such/page")
    expect(page.get_by_text("Page not found")).to_be_visible()


def test_dark_mode_is_remembered_and_styles_the_app(page: Page) -> None:
    login(page)
    page.locator("[data-test=theme-toggle]").click()
    assert page.evaluate("document.documentElement.classList.contains('dark')")
    page.reload()
    expect(page.locator("html")).to_have_class("dark")
    background = page.evaluate("getComputedStyle(document.querySelector('.el-main') || document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    page.locator("[data-test=theme-toggle]").click()
    expect(page.locator("html")).not_to_have_class("dark")


def test_login_keeps_the_next_page_and_refuses_open_redirects(page: Page, server: Server) -> None:
    page.goto("/schedules")
    page.wait_for_url(lambda url: url.endswith("/login?next=/schedules"))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    page.locator("[data-test=login-submit]").click()
    page.wait_for_url(lambda url: url.endswith("/schedules") and "/login" not in url)
    for hostile in ("//evil.example/x", "https://evil.example/", "javascript:alert(1)", "/\\/evil.example"):
        page.goto(f"/login?next={hostile}")
        page.wait_for_url(lambda url: "/login" not in url)
        assert page.url == f"{server.url}/", hostile


def test_a_viewer_sees_no_write_buttons(browser: Browser, server: Server, console: Console) -> None:
    admin = requests.Session()
    csrf = admin.post(f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
    made = admin.post(
        f"{server.url}/api/users",
        json={"username": "vera", "password": "viewer-password-1", "role": "viewer"},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert made.status_code in (201, 409), made.text
    context = browser.new_context(base_url=server.url)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    login(page, "vera", "viewer-password-1")
    page.goto("/scripts")
    expect(page.locator(".page-header h1")).to_be_visible()
    expect(page.locator("[data-test=new-script]")).to_have_count(0)
    page.goto("/schedules")
    expect(page.locator(".page-header h1")).to_be_visible()
    expect(page.locator("[data-test=new-schedule]")).to_have_count(0)
    # an admin page says which role it needs (at its own address) instead of a silent jump elsewhere
    page.goto("/admin/users")
    expect(page.locator("[data-test=forbidden]")).to_contain_text("You need the administrator role")
    assert page.url.endswith("/admin/users")

    # a viewer may still change their own password
    page.goto("/account")
    page.get_by_label("Current password").fill("viewer-password-1")
    page.get_by_label("New password", exact=True).fill("viewer-password-2")
    page.get_by_label("New password again").fill("viewer-password-2")
    page.locator("[data-test=change-password]").click()
    expect(page.get_by_text("Password changed")).to_be_visible()
    page.locator("[data-test=user-menu]").click()
    page.locator("[data-test=logout]").click()
    page.wait_for_url(lambda url: "/login" in url)
    login(page, "vera", "viewer-password-2")
    context.close()
    assert console.errors == []
