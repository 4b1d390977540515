"""The dashboard with de-identification on (the default), in Debian's chromium: an upload is stored as its
de-identified copy, the Library says so and what was removed, and Review shades the removed stretch on the
timeline. Screenshots go to the test's tmp dir (HALSTED_UPDATE_SCREENSHOTS=1: also docs/screenshots/)."""

from __future__ import annotations

import os
import shutil

import pytest

import deid_video as case
from browser import (CHROMIUM, CHROMIUM_ARGS, MAP_WAIT_MS, REPO, UPLOAD_INPUT, WAIT_MS, halsted_serve,
                     settled_screenshot, sign_up)
from helpers import PASSWORD, make_timeline

pytestmark = pytest.mark.browser


def test_library_and_review_say_what_was_removed(tmp_path, oob_classifier):
    from playwright.sync_api import expect, sync_playwright

    from halsted_hf.deid.timeline_mask import without_stretches
    from halsted_hf.model.registry import DEMO_MODEL_PATH
    from halsted_hf.platform import Platform, Settings

    video = case.make_case(tmp_path)
    upload = tmp_path / "Roe_Jane_2024-01-02.mp4"
    shutil.copyfile(video, upload)
    (tmp_path / "data").mkdir()
    expect.set_options(timeout=WAIT_MS)
    with halsted_serve(tmp_path / "data", DEMO_MODEL_PATH, deidentify=True) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(WAIT_MS)

        def nav(title: str) -> None:
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()

        try:
            page.goto(server)
            sign_up(page, "Dr. Private", "private@example.org")
            expect(page.get_by_text("Welcome, Dr. Private")).to_be_visible()
            nav("Library")
            expect(page.get_by_text("De-identification is on")).to_be_visible()
            page.locator(UPLOAD_INPUT).set_input_files(str(upload))
            expect(page.get_by_text(f"Stored {upload.name}")).to_be_visible(timeout=MAP_WAIT_MS)
            expect(page.get_by_text("out-of-body stretch removed: 0:0")).to_be_visible()
            settled_screenshot(page, tmp_path / "library-deid.png")

            # a result as the worker stores it: nothing mapped inside the removed stretch
            platform = Platform(Settings(data_dir=server.data_dir))
            me = platform.sign_in("private@example.org", PASSWORD)
            [stored] = me.list_videos()
            report = stored.deidentification
            timeline = without_stretches(make_timeline(duration_s=case.DURATION), report.removed_stretches)
            me.add_result(stored.id, timeline, "suturing")
            platform.dispose()
            nav("Review")
            expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
            expect(page.get_by_text("removed: out of body").first).to_be_visible()
            expect(page.get_by_text("De-identified: ")).to_be_visible()
            settled_screenshot(page, tmp_path / "review-deid.png")
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    if os.environ.get("HALSTED_UPDATE_SCREENSHOTS") == "1":
        for name in ("library-deid.png", "review-deid.png"):
            shutil.copyfile(tmp_path / name, REPO / "docs" / "screenshots" / name)
