"""Faults found in chromium, each tried again the way it was found: `halsted serve` (tiny model, temp data dir,
the client address taken from X-Forwarded-For as a reverse proxy would send it) driven by Playwright.

- a result's files (video, subtitles, CSV, JSON, thumbnail) reach only their owner, none through /media/;
- a link to a Review result survives sign-in and a reload;
- sign-in throttling counts per address, and says what it counts; sign-up never opens an existing account;
- a second "Merge" merges the segment on screen, never the first one; a split time outside the segment is refused;
- an upload goes to disk as it arrives (the server's memory does not grow by the file), and one that is no video
  or over the limit is refused before the rest is sent;
- a killed worker is restarted while the dashboard stays up, and maps the next job.

Accounts and results are put in place through the platform's own API (as the worker would); everything a
surgeon does goes through the page.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.request

import pytest

from browser import (CHROMIUM, CHROMIUM_ARGS, MAP_WAIT_MS, UPLOAD_INPUT, WAIT_MS, cookie_set, halsted_serve, pick,
                     sign_up)
from halsted_hf.platform.web_sessions import SESSION_COOKIE
from helpers import PASSWORD, make_timeline, make_video, two_steps_timeline

pytestmark = pytest.mark.browser
UPLOAD_LIMIT_MB = 400
BIG_MB = 300  # an upload that Streamlit's own uploader would hold in the server's memory


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_model_dir):
    data_dir = tmp_path_factory.mktemp("faults-data")
    env = {"HALSTED_CLIENT_ADDRESS_HEADER": "X-Forwarded-For", "HALSTED_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB)}
    with halsted_serve(data_dir, tiny_model_dir, env=env) as url:
        yield url


@pytest.fixture(scope="module")
def platform(server):
    from halsted_hf.platform import Platform, Settings

    p = Platform(Settings(data_dir=server.data_dir, deidentify=False))  # as the server stores
    yield p
    p.dispose()


@pytest.fixture
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def new_page(browser, address=None):
    """A fresh browser (its own cookies), behind the proxy as `address` when given."""
    headers = {"X-Forwarded-For": address} if address else None
    page = browser.new_context(viewport={"width": 1400, "height": 1400}, extra_http_headers=headers).new_page()
    page.set_default_timeout(WAIT_MS)
    return page


def sign_in(page, email, password=PASSWORD):
    page.locator(".st-key-signin_email input").fill(email)
    page.locator(".st-key-signin_password input").fill(password)
    page.get_by_role("button", name="Sign in").click()


def signed_in(browser, server, email, then=""):
    """A browser signed in on the start page, its session cookie set, then at `then` (a path)."""
    from playwright.sync_api import expect

    page = new_page(browser)
    page.goto(server)
    sign_in(page, email)
    expect(page.locator(".st-key-signout")).to_be_visible()
    cookie_set(page.context, SESSION_COOKIE)  # the page's script trades its grant for the cookie
    if then:
        page.goto(server + then)
    return page


def test_a_results_files_reach_only_their_owner_and_its_link_survives_sign_in(server, platform, browser, tmp_path):
    from playwright.sync_api import expect

    ann = platform.sign_up("ann@example.org", "Ann", PASSWORD)
    platform.sign_up("bob@example.org", "Bob", PASSWORD)
    older = ann.add_result(ann.upload_video(str(make_video(tmp_path / "older.mp4", 3.0))).id, make_timeline())
    ann.add_result(ann.upload_video(str(make_video(tmp_path / "newer.mp4", 2.0, pattern="testsrc2"))).id,
                   make_timeline(duration_s=2.0))

    # signed out, a link to the older result: the sign-in form at that address (it said "Page not found")
    page = new_page(browser)
    page.goto(f"{server}/review?result={older.id}")
    expect(page.get_by_text("Map surgery from video")).to_be_visible()
    assert page.get_by_text("Page not found").count() == 0
    sign_in(page, "ann@example.org")
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    result_box = page.locator(".st-key-review_result").get_by_role("combobox")
    expect(result_box).to_have_value(re.compile(r"^older\.mp4 · "))  # not the newest result
    assert f"result={older.id}" in page.url
    page.reload()
    expect(page.get_by_role("heading", name="Review")).to_be_visible()
    expect(result_box).to_have_value(re.compile(r"^older\.mp4 · "))

    # the video, its subtitles and the exports come from owner-only routes; nothing from /media/
    expect(page.locator(f'video track[src="/api/results/{older.id}/vtt"]')).to_have_count(1)
    page.evaluate("() => { const v = document.querySelector('video'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.5", timeout=WAIT_MS)
    files = page.evaluate("() => [...document.querySelectorAll('video, track, img, a')]"
                          ".map(e => e.currentSrc || e.src || e.href).filter(Boolean)")
    assert not [f for f in files if "/media/" in f], files
    owned = sorted({f.split("#")[0] for f in files if "/api/" in f})
    assert {f"/api/results/{older.id}/{k}" for k in ("vtt", "csv", "json")} <= {f[len(server):] if f.startswith(server)
                                                                                else f for f in owned}
    page.goto(f"{server}/library")
    thumbs = page.locator('img[src*="/api/videos/"]')
    expect(thumbs).to_have_count(2)
    page.wait_for_function("() => [...document.querySelectorAll('img[src*=\"/api/videos/\"]')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    owned += [t.get_attribute("src") for t in thumbs.all()]

    bob = signed_in(browser, server, "bob@example.org")
    nobody = browser.new_context()
    for f in owned:
        url = f if f.startswith("http") else server + f
        assert page.context.request.get(url).status == 200, url
        assert bob.context.request.get(url).status == 404, url  # another surgeon: as if it did not exist
        assert nobody.request.get(url).status == 401, url


def test_throttling_counts_each_address_and_sign_up_never_opens_an_account(server, platform, browser):
    from playwright.sync_api import expect

    platform.sign_up("carol@example.org", "Carol", PASSWORD)
    attacker = new_page(browser, "203.0.113.9")
    for guess in range(12):
        attacker.goto(server)
        sign_in(attacker, "carol@example.org", f"guess number {guess}")
        alert = attacker.locator('[data-testid="stAlertContentError"]')
        expect(alert).to_be_visible()
        if "Too many failed sign-ins" in alert.inner_text():
            break
    message = alert.inner_text()
    assert "Too many failed sign-ins from this network address for this account" in message, message

    # another browser at another address: not held up by the attacker (every browser used to share "ip:unknown")
    owner = new_page(browser, "198.51.100.7")
    owner.goto(server)
    sign_in(owner, "carol@example.org")
    expect(owner.get_by_text("Welcome, Carol")).to_be_visible()

    # sign-up with Carol's e-mail and her real password: refused, and nobody is signed in as Carol
    mallory = new_page(browser, "198.51.100.8")
    mallory.goto(server)
    sign_up(mallory, "Mallory", "carol@example.org")  # with PASSWORD, Carol's own
    expect(mallory.get_by_text("No account was created")).to_be_visible()
    assert mallory.locator(".st-key-signout").count() == 0 and mallory.get_by_text("Welcome").count() == 0
    assert platform.sign_in("carol@example.org", PASSWORD).surgeon.name == "Carol"


def test_a_second_merge_hits_the_segment_on_screen_and_a_split_outside_is_refused(server, platform, browser, tmp_path):
    dan = platform.sign_up("dan@example.org", "Dan", PASSWORD)
    rid = dan.add_result(dan.upload_video(str(make_video(tmp_path / "steps.mp4", 3.0))).id, two_steps_timeline(),
                         "full").id
    page = signed_in(browser, server, "dan@example.org")
    page.locator('[data-testid="stSidebarNav"] a', has_text="Review").click()  # Dan's only result
    try:
        _merge_twice_then_split_outside(page, dan, rid)
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise


def _merge_twice_then_split_outside(page, dan, rid):
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Corrections")).to_be_visible()
    pick(page, f"correct_segment_{rid}", "#3 proficiency 0:01.8–0:02.1 · phase: driving")
    page.locator(f".st-key-correct_action_{rid}").get_by_text("Merge with the next segment").click()
    page.wait_for_timeout(1000)  # the rerun the choice starts has drawn the Merge button
    for done in (1, 2):
        page.locator(f".st-key-correct_apply_merge_{rid} button").click()
        expect(page.get_by_text("Merged with the next segment.")).to_be_visible()
        expect(page.get_by_text(f"Corrected by you: {done} correction")).to_be_visible()
        page.wait_for_timeout(500)
    segs = dan.review(rid).timeline.segments
    assert [(s.start_s, s.end_s, s.tags["step"]) for s in segs[:2]] == [(0.0, 1.5, "dissection"),
                                                                        (1.5, 3.0, "suturing")]
    assert [(round(s.start_s, 3), round(s.end_s, 3)) for s in segs[2:]] == [(1.5, 1.8), (1.8, 2.7)]
    # what a third click would do is on screen before it is done: nothing, and why
    expect(page.get_by_text("This segment has no adjacent next segment of the same task")).to_be_visible()

    page.locator(f".st-key-correct_action_{rid}").get_by_text("Split at a time").click()
    box = page.locator(f".st-key-correct_split_{rid} input")
    box.fill("50")
    box.press("Enter")
    expect(page.get_by_text("A split must fall inside the segment (0:01.8–0:02.7)").first).to_be_visible()
    page.locator(f".st-key-correct_apply_split_{rid} button").click()
    expect(page.locator('[data-testid="stAlertContentError"]', has_text="not at 50.0 s")).to_be_visible()
    assert len(dan.list_corrections(rid)) == 2  # nothing stored, nothing moved to the midpoint


def _children(serve_pid: int, word: bytes):
    """The processes `halsted serve` started whose command line holds `word` (worker, streamlit)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if ppid == serve_pid and any(word in a for a in argv):
            found.append(int(entry))
    return found


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _size_mb(folder) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def test_uploads_go_to_disk_and_a_non_video_or_too_large_file_is_refused_first(server, platform, browser, tmp_path):
    import threading

    from playwright.sync_api import expect

    platform.sign_up("fay@example.org", "Fay", PASSWORD)
    page = signed_in(browser, server, "fay@example.org", "/library")
    clip = make_video(tmp_path / "clip.mp4", 3.0).read_bytes()

    def sparse(name, start: bytes, mb: int):
        path = tmp_path / name
        path.write_bytes(start)
        os.truncate(path, mb * 2**20)  # the rest reads as zeros: FFmpeg reads the video and ignores them
        return str(path)

    notes = sparse("notes.mp4", b"minutes of the meeting, not a video\n" * 1000, 200)
    over = sparse("over.mp4", clip, UPLOAD_LIMIT_MB + 10)
    big = sparse("big.mp4", clip, BIG_MB)
    [dashboard] = _children(server.pid, b"streamlit")
    uploader = page.locator(UPLOAD_INPUT)

    before_mb, started = _size_mb(server.data_dir), time.monotonic()
    uploader.set_input_files(notes)
    expect(page.get_by_text("Refused: notes.mp4 is not a video")).to_be_visible()
    uploader = page.locator(UPLOAD_INPUT)  # the page reloaded
    uploader.set_input_files(over)
    refusal = f"Refused: over.mp4 is larger than the {UPLOAD_LIMIT_MB:,} MB upload limit"
    expect(page.get_by_text(refusal)).to_be_visible()
    assert time.monotonic() - started < 40  # the 200 MB and 410 MB were never sent (it took 31-57 s to refuse)
    assert _size_mb(server.data_dir) - before_mb < 5

    rss, done = [_rss_mb(dashboard)], threading.Event()

    def sample():
        while not done.wait(0.2):
            rss.append(_rss_mb(dashboard))
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        page.locator(UPLOAD_INPUT).set_input_files(big)
        expect(page.get_by_text("Stored big.mp4 (3 s, ")).to_be_visible(timeout=MAP_WAIT_MS)
    finally:
        done.set()
        sampler.join()
    assert max(rss) - rss[0] < BIG_MB / 3, (rss[0], max(rss))  # Streamlit's uploader: + the whole file, kept
    assert [v.size_bytes for v in platform.sign_in("fay@example.org", PASSWORD).list_videos()] == [BIG_MB * 2**20]
    assert not list((server.data_dir / "tmp").glob("upload-*"))


def test_a_killed_worker_is_restarted_while_the_dashboard_stays_up(server, platform, browser, tmp_path):
    from playwright.sync_api import expect

    eve = platform.sign_up("eve@example.org", "Eve", PASSWORD)
    video = eve.upload_video(str(make_video(tmp_path / "after-crash.mp4", 3.0)))
    page = signed_in(browser, server, "eve@example.org", "/map")
    [old] = _children(server.pid, b"worker")
    os.kill(old, signal.SIGKILL)
    deadline, health = time.monotonic() + 8, []
    while time.monotonic() < deadline:  # the dashboard used to stop with its worker
        with urllib.request.urlopen(server + "/_stcore/health", timeout=5) as r:
            health.append(r.status)
        time.sleep(0.5)
    assert set(health) == {200}
    page.locator('[data-testid="stSidebarNav"] a', has_text="Library").click()
    expect(page.get_by_role("heading", name="Library")).to_be_visible()
    assert page.get_by_text("is not responding").count() == 0
    new = _children(server.pid, b"worker")
    assert new and old not in new, new
    assert "mapping is paused; restarting it" in (server.data_dir / "serve.log").read_text()

    job = eve.enqueue_job(video.id, "suturing")  # the restarted worker maps it
    deadline = time.monotonic() + MAP_WAIT_MS / 1000
    while eve.get_job(job.id).status in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(1)
    assert eve.get_job(job.id).status == "done", eve.get_job(job.id)
