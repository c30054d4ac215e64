"""A grid worker on a phone who opens a page their role may not use gets a page in Chinese
that says so and leads back, not a JSON document."""

from __future__ import annotations

from typing import Any

from tests.support.browser import Site


def test_a_grid_worker_refused_the_console_on_a_phone_reads_why_in_chinese(
    open_as: Any, site: Site
) -> None:
    page = open_as("reporter", phone=True)
    response = page.goto(f"{site.url}/console")
    assert response.status == 403
    assert response.headers["content-type"].startswith("text/html")
    heading = page.locator("h1.error")
    assert heading.inner_text() == "您无权打开此页面或执行此操作"
    page.get_by_role("link", name="返回首页").click()
    page.wait_for_url(f"{site.url}/report")  # a grid worker's start page
    assert page.locator("h1.error").count() == 0
