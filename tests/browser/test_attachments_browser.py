"""Attachments in a real browser: a customer chooses a file on the new-ticket form (the chosen file is listed with
its size), files the ticket, downloads the file from the ticket page, and drops a second file onto the reply
form's drop zone (the progressive enhancement); the agent sees both in the composer's timeline."""

from __future__ import annotations

import re

from playwright.sync_api import expect
from sqlalchemy import select

from portal.extensions import db
from portal.models import Attachment, Role

LOG = b"2026-03-01 import started\n2026-03-01 row 3: date format not understood\n"


def test_customer_attaches_downloads_and_drops_a_file(make_org, make_user, sign_in, tmp_path):
    customer = make_user(Role.customer, organization=make_org(name="Acme Reporting"), name="Carla Customer")
    log = tmp_path / "import-errors.log"
    log.write_bytes(LOG)

    page = sign_in(customer)
    page.goto("/portal/tickets/new")
    page.fill("input[name=subject]", "CSV import stops at row 3")
    page.fill("textarea[name=description]", "The importer's log is attached.")
    page.select_option("select[name=category]", "data")
    page.set_input_files("input[name=attachments]", str(log))
    expect(page.locator("[data-attachment-list] li")).to_have_text(f"import-errors.log ({len(LOG)} bytes)")
    page.get_by_role("button", name="File ticket").click()
    page.wait_for_url(re.compile(r"/portal/tickets/[A-Z]+-\d+$"))

    link = page.get_by_role("link", name="import-errors.log")
    expect(link).to_be_visible()
    expect(page.locator(".attachment-list")).to_contain_text(f"text/plain, {len(LOG)} bytes")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == "import-errors.log"
    with open(download.path(), "rb") as fh:
        assert fh.read() == LOG

    # Dropping a file onto the reply form's zone puts it into the file input (js/attachments.js).
    page.evaluate(
        """() => {
            const zone = document.querySelector("form[action$='/replies'] [data-attachment-drop]");
            const data = new DataTransfer();
            data.items.add(new File(["a,b\\n1,2\\n3,4\\n"], "figures.csv", {type: "text/csv"}));
            zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true}));
            zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
        }"""
    )
    reply_form = page.locator("form[action$='/replies']")
    expect(reply_form.locator("[data-attachment-list] li")).to_have_text("figures.csv (12 bytes)")
    reply_form.locator("textarea[name=body]").fill("And the figures.")
    reply_form.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("link", name="figures.csv")).to_be_visible()
    assert page.js_errors == []

    db.session.rollback()
    names = [a.filename for a in db.session.scalars(select(Attachment).order_by(Attachment.id))]
    assert names == ["import-errors.log", "figures.csv"]
