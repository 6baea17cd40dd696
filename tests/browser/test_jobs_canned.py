"""Issue 16, F5 in Chromium: a long job's progress bar fed by the socket, surviving a
reload (the page reads the stored state, then goes on live) and offering its result;
canned replies inserted in a ticket's reply box at 390 px."""

from __future__ import annotations

import threading

import pytest
from django.db import connections
from playwright.sync_api import expect

from core import jobs
from tests import factories
from tests.browser.pages import log_in, outside_playwright, wait_for_socket, watched_page
from tests.tickets.helpers import engineer, raise_ticket
from tickets import services as ticket_services

PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS = "() => document.documentElement.scrollWidth <= window.innerWidth"

GATES = [threading.Event(), threading.Event()]


def _gated(job, progress):
    """Four steps; waits for the test before the second and the fourth."""
    progress(1, 4)
    GATES[0].wait(60)
    progress(2, 4)
    progress(3, 4)
    GATES[1].wait(60)
    return jobs.Output(message="四步完成", file_name="steps.txt", content="结果".encode())


jobs.register("test.gated", run=_gated)


@pytest.mark.browser
def test_the_progress_bar_follows_the_socket_and_survives_a_reload(
    transactional_db, daphne_server, new_daphne_context, monkeypatch
):
    monkeypatch.setattr(jobs, "PROGRESS_EVERY", 0)
    monkeypatch.setattr(jobs, "enqueue", lambda pk: None)  # the test plays the worker
    for gate in GATES:
        gate.clear()

    def setup():
        owner = factories.manager(factories.small_tree().province)
        return owner, jobs.start("test.gated", "browser", owner, title="分步任务")

    owner, job = outside_playwright(setup)

    problems: list[str] = []
    page = watched_page(new_daphne_context(), "owner", problems)
    page.set_viewport_size(PHONE)
    log_in(page, daphne_server.url, owner.username)
    page.goto(f"/jobs/{job.pk}/")
    box = page.locator(f'[data-job="{job.pk}"]')
    expect(box.locator(".job-status-text")).to_have_text("排队等待中")
    wait_for_socket(page)

    def work():
        try:
            jobs.run(job.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        # Live: the first step arrives over the socket.
        expect(box.locator(".job-count")).to_have_text("1 / 4")
        expect(box.locator(".job-status-text")).to_have_text("进行中")
        assert box.locator("progress").evaluate("el => el.value") == 25
        # A reload reads the stored step, then the page goes on live.
        page.reload()
        expect(box.locator(".job-count")).to_have_text("1 / 4")
        assert box.locator("progress").evaluate("el => el.value") == 25
        wait_for_socket(page)
        GATES[0].set()
        expect(box.locator(".job-count")).to_have_text("3 / 4")
        assert page.evaluate(NO_SIDEWAYS)
        GATES[1].set()
        expect(box.locator(".job-status-text")).to_have_text("已完成")
        expect(box.locator(".job-message")).to_have_text("四步完成")
        link = box.locator(".job-result a")
        expect(link).to_be_visible()
        with page.expect_download() as download:
            link.click()
        assert download.value.suggested_filename == "steps.txt"
    finally:
        for gate in GATES:
            gate.set()
        worker.join(60)
    # "My jobs" lists it as done.
    page.goto("/jobs/")
    expect(page.locator(f'#job-list [data-job="{job.pk}"] .job-status-text')).to_have_text("已完成")
    assert page.evaluate(NO_SIDEWAYS)
    assert problems == []


@pytest.mark.browser
def test_a_canned_reply_is_inserted_by_its_shortcut_and_by_ctrl_slash(
    transactional_db, live_server, new_context
):
    def setup():
        tree = factories.small_tree()
        eng = engineer(tree.county)
        prov_eng = engineer(tree.province)
        ticket_services.canned_save(
            actor=prov_eng,
            title="转学流程",
            body="请在学籍系统中发起转学申请。",
            shortcut="/zhuanxue",
        )
        ticket_services.canned_save(
            actor=eng, title="照片要求", body="照片须为 jpg 格式，小于 60KB。", shortcut="/zhaopian"
        )
        return eng, raise_ticket(factories.staff(tree.school))

    eng, ticket = outside_playwright(setup)

    problems: list[str] = []
    page = watched_page(new_context(), "engineer", problems)
    page.set_viewport_size(PHONE)
    log_in(page, live_server.url, eng.username)
    page.goto(f"/tickets/{ticket.pk}/")
    box = page.locator("#reply-body")
    box.click()
    box.type("您好，/zhu")
    chooser = page.locator("#canned-chooser")
    expect(chooser).to_be_visible()
    expect(chooser.locator("[role=option]")).to_have_count(1)
    expect(chooser.locator("[role=option]").first).to_contain_text("转学流程")
    assert page.evaluate(NO_SIDEWAYS)
    page.keyboard.press("Enter")
    expect(chooser).to_have_count(0)
    assert box.input_value() == "您好，请在学籍系统中发起转学申请。"
    # Ctrl+/ opens every reply (this tier's first, then the province's); a tap inserts.
    box.type(" ")
    page.keyboard.press("Control+/")
    expect(chooser.locator("[role=option]")).to_have_count(2)
    chooser.locator("[role=option]", has_text="照片要求").click()
    assert box.input_value() == "您好，请在学籍系统中发起转学申请。 照片须为 jpg 格式，小于 60KB。"
    # The button opens it too; Escape closes it.
    page.locator("#canned-open").click()
    expect(chooser).to_be_visible()
    page.keyboard.press("Escape")
    expect(chooser).to_have_count(0)
    assert page.evaluate(NO_SIDEWAYS)
    # Sent as a reply, the text is on the ticket.
    page.locator("#reply-form button[type=submit]").click()
    expect(page.locator("#ticket-timeline")).to_contain_text("照片须为 jpg 格式")
    page.screenshot(path="test-results/canned-reply-390.png")
    assert [p for p in problems if "WebSocket" not in p] == []
