"""End to end in chromium: a surgeon uploads a synthetic surgery and footage that is not surgery (a zooming photo
from scikit-learn's sample images), maps both with the demo model, and the out-of-distribution check
(halsted_hf/mapping/ood.py) sets the photo apart: the Library, Review and Summary label it, Summary's totals are
the same as before it was uploaded until its toggle puts it back, and the surgery is labelled nowhere. The
model is a copy of the bundled demo model (it ships ood.json) with a reliability record that marks proficiency
and three other tags not reliable (tests/helpers.py), so the surgery's Review shows them marked.

`halsted serve` is started as in tests/test_e2e_browser.py. With HALSTED_UPDATE_SCREENSHOTS=1 the screenshots
go to docs/screenshots/ (review-ood.png, summary-ood.png, review-reliability.png).
"""

from __future__ import annotations

import json
import os
import shutil
import sys

import pytest
from browser import (CHROMIUM, CHROMIUM_ARGS, MAP_WAIT_MS, REPO, UPLOAD_INPUT, WAIT_MS, halsted_serve,
                     settled_screenshot, sign_up)

sys.path.insert(0, str(REPO / "benchmarks"))
import ood_footage  # noqa: E402

pytestmark = pytest.mark.browser
LABEL = "Out of distribution"
WARNING = "does not look like the surgery this model was trained on"


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    from helpers import RELIABILITY_RECORD

    from halsted_hf.mapping.reliability import RELIABILITY_FILE
    from halsted_hf.model.registry import DEMO_MODEL_PATH

    model = tmp_path_factory.mktemp("e2e-model") / "demo-model"
    shutil.copytree(DEMO_MODEL_PATH, model)
    (model / RELIABILITY_FILE).write_text(json.dumps(RELIABILITY_RECORD), encoding="utf-8")
    with halsted_serve(tmp_path_factory.mktemp("e2e-ood"), str(model)) as url:
        yield url


def _nav(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()


def _upload_and_map(page, path: str, name: str, job: int) -> None:
    from playwright.sync_api import expect

    _nav(page, "Library")
    page.locator(UPLOAD_INPUT).set_input_files(path)
    expect(page.get_by_text(f"Stored {name}")).to_be_visible()
    page.locator('[class*="st-key-video_"]', has_text=name).get_by_role("button", name="Map").click()
    page.get_by_role("button", name="Map suturing").click()
    expect(page.get_by_text(f"suturing mapping · job {job} · done")).to_be_visible(timeout=MAP_WAIT_MS)


def _metrics(page) -> dict:
    """Summary's metrics as the surgeon reads them: label -> value."""
    texts = page.locator('[data-testid="stMetric"]').all_inner_texts()
    return {label.strip(): value.strip() for label, value in (t.strip().split("\n", 1) for t in texts)}


def _summary_metrics(page) -> dict:
    from playwright.sync_api import expect

    _nav(page, "Summary")
    expect(page.get_by_text("Welcome, Dr. Ood")).to_be_visible()
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(5)
    return _metrics(page)


def test_non_surgical_footage_is_set_apart_on_library_review_and_summary(demo_server, tmp_path):
    from halsted_hf.platform.demo import render_demo_video
    from playwright.sync_api import expect, sync_playwright

    stills = {os.path.basename(p): p for p in ood_footage.development_stills()}
    photo = ood_footage.still_to_video(stills["china.jpg"], str(tmp_path / "holiday.mp4"), seconds=12)
    surgery = str(render_demo_video(tmp_path / "case-7.mp4", minutes=0.5, seed=7))
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        page.set_default_timeout(WAIT_MS)
        try:
            page.goto(demo_server)
            sign_up(page, "Dr. Ood", "ood@example.org")
            expect(page.get_by_text("Welcome, Dr. Ood")).to_be_visible()

            # synthetic surgery: in distribution, labelled nowhere
            _upload_and_map(page, surgery, "case-7.mp4", 1)
            page.get_by_role("button", name="Review").first.click()
            expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
            expect(page.get_by_text(WARNING)).to_have_count(0)
            expect(page.locator('[data-testid="stAlert"]', has_text="on this model's held-out videos")).to_be_visible()
            expect(page.get_by_text("High proficiency (not reliable)")).to_be_visible()
            settled_screenshot(page, tmp_path / "review-reliability.png")
            before = _summary_metrics(page)
            expect(page.get_by_text("left out of high proficiency")).to_be_visible()
            assert before["Mapped videos"] == "1" and before["Videos"] == "1", before
            expect(page.get_by_text(LABEL)).to_have_count(0)

            # the photo: labelled on the Library, Review and Summary; Summary's totals unchanged
            _upload_and_map(page, photo, "holiday.mp4", 2)
            _nav(page, "Library")
            rows = page.locator('[class*="st-key-video_"]')
            expect(rows).to_have_count(2)
            holiday, case = rows.filter(has_text="holiday.mp4"), rows.filter(has_text="case-7.mp4")
            expect(holiday.locator('[data-testid="stAlert"]', has_text=LABEL)).to_be_visible()
            expect(case.get_by_text(LABEL)).to_have_count(0)
            holiday.get_by_role("button", name="Review").click()
            expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
            expect(page.locator('[data-testid="stAlert"]', has_text=LABEL)).to_be_visible()
            expect(page.locator('[data-testid="stAlert"]', has_text=WARNING)).to_be_visible()
            settled_screenshot(page, tmp_path / "review-ood.png")

            after = _summary_metrics(page)
            assert after == before, (before, after)
            expect(page.get_by_text(f"{LABEL}: 1 video left out of these totals and trends")).to_be_visible()
            recent = page.locator('[data-testid="stAlert"]', has_text=f"{LABEL}: not in the totals")
            expect(recent).to_have_count(1)
            settled_screenshot(page, tmp_path / "summary-ood.png")

            # the toggle puts it back, labelled
            page.get_by_text("Include out-of-distribution results").click()
            expect(page.get_by_text(f"{LABEL} included")).to_be_visible()
            page.wait_for_function("() => [...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                                   ".some(m => m.innerText.startsWith('Mapped videos') && m.innerText.endsWith('2'))")
            both = _metrics(page)
            assert both["Videos"] == "2" and both["Mapped videos"] == "2", both
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    if os.environ.get("HALSTED_UPDATE_SCREENSHOTS") == "1":
        for name in ("review-ood.png", "summary-ood.png", "review-reliability.png"):
            shutil.copyfile(tmp_path / name, REPO / "docs" / "screenshots" / name)
