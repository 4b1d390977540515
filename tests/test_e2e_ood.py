"""End to end in chromium: a surgeon uploads footage that is not surgery (a zooming photo from scikit-learn's
sample images), maps it with the bundled demo model, and Review and the Library say that it does not look like
the surgery the model was trained on (the out-of-distribution check, halsted_hf/mapping/ood.py).

`halsted serve` is started as in tests/test_e2e_browser.py, here with the demo model (it ships ood.json).
With HALSTED_UPDATE_SCREENSHOTS=1 the Review page is copied to docs/screenshots/review-ood.png.
"""

from __future__ import annotations

import os
import shutil
import sys

import pytest
from browser import CHROMIUM, CHROMIUM_ARGS, MAP_WAIT_MS, REPO, UPLOAD_INPUT, WAIT_MS, halsted_serve, settled_screenshot, sign_up

sys.path.insert(0, str(REPO / "benchmarks"))
import ood_footage  # noqa: E402

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    from halsted_hf.model.hub import DEMO_MODEL_PATH

    with halsted_serve(tmp_path_factory.mktemp("e2e-ood"), str(DEMO_MODEL_PATH)) as url:
        yield url


def test_non_surgical_footage_is_flagged_on_review_and_library(demo_server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    stills = {os.path.basename(p): p for p in ood_footage.development_stills()}
    clip = ood_footage.still_to_video(stills["china.jpg"], str(tmp_path / "holiday.mp4"), seconds=12)
    expect.set_options(timeout=WAIT_MS)
    warning = "does not look like the surgery this model was trained on"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(demo_server)
            sign_up(page, "Dr. Ood", "ood@example.org")
            expect(page.get_by_text("Welcome, Dr. Ood")).to_be_visible()
            page.locator('[data-testid="stSidebarNav"] a', has_text="Library").click()
            page.locator(UPLOAD_INPUT).set_input_files(clip)
            expect(page.get_by_text("Stored holiday.mp4")).to_be_visible()
            page.get_by_role("button", name="Map").first.click()
            page.get_by_role("button", name="Map suturing").click()
            expect(page.get_by_text("suturing mapping · job 1 · done")).to_be_visible(timeout=MAP_WAIT_MS)
            page.get_by_role("button", name="Review").first.click()
            expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
            banner = page.locator('[data-testid="stAlert"]', has_text=warning)
            expect(banner).to_be_visible()
            settled_screenshot(page, tmp_path / "review-ood.png")
            page.locator('[data-testid="stSidebarNav"] a', has_text="Library").click()
            expect(page.locator('[data-testid="stAlert"]', has_text=warning)).to_be_visible()
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    if os.environ.get("HALSTED_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(tmp_path / "review-ood.png", REPO / "docs" / "screenshots" / "review-ood.png")
