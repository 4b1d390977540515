"""What the chromium tests share (tests/test_e2e_*.py): the browser's path and flags, waits, a `halsted serve`
started on a free loopback port and stopped like Ctrl-C, and the sign-up form. Not a test module."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from helpers import PASSWORD

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 60_000  # generous: two cores shared by the server, the worker and the browser
MAP_WAIT_MS = 150_000
UPLOAD_INPUT = "#halsted-upload-input"  # the Library's uploader under halsted serve (views/uploader.py)


class ServedURL(str):
    """The server's base URL (a str, as the tests use it) that also knows the server's data directory, so a
    test can put rows in place through the platform's own API, as the worker would; `exit_code` is how the
    server ended (None while it runs, or when it did not stop on SIGINT)."""

    data_dir: Path
    pid: int  # of `halsted serve` itself
    exit_code = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def halsted_serve(data_dir: Path, model: str, env: dict = None, deidentify: bool = False):
    """`halsted serve` (dashboard + worker) on a free loopback port, embedded SQLite under `data_dir`, with `env`
    added to its environment; yields its ServedURL once healthy; then stopped as Ctrl-C would, and whatever is
    left of its session killed. Uploads are stored as they are unless `deidentify` (tests/test_deid_browser.py)."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/install_system_deps.sh)")
    port = free_port()
    log = open(data_dir / "serve.log", "wb")
    env = dict(os.environ, HALSTED_DATABASE_URL="", HALSTED_SPACE="", PYTHONUNBUFFERED="1",
               HALSTED_DEIDENTIFY="1" if deidentify else "0", **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "serve", "--port", str(port), "--data-dir",
                             str(data_dir), "--model", model, "--no-demo"],
                            cwd=str(REPO), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = ServedURL(f"http://127.0.0.1:{port}")
    url.data_dir, url.pid = data_dir, proc.pid
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("halsted serve did not start:\n" + (data_dir / "serve.log").read_text()[-3000:])
            time.sleep(0.5)
        yield url
        # Ctrl-C must stop the server and its worker even where SIGINT came in ignored (a background job).
        proc.send_signal(signal.SIGINT)
        try:
            url.exit_code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # no orphans after a failure
        except ProcessLookupError:
            pass
        log.close()


def sign_up(page, name: str, email: str) -> None:
    page.get_by_role("tab", name="Create an account").click()
    page.locator(".st-key-signup_name input").fill(name)
    page.locator(".st-key-signup_email input").fill(email)
    page.locator(".st-key-signup_password input").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


def settled_screenshot(page, path) -> None:
    """A full-page screenshot once Streamlit has drawn every element (no loading skeleton left: charts appear
    after the text, later on a slow run) and the charts' transitions are over."""
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=WAIT_MS)
    page.wait_for_timeout(800)
    page.screenshot(path=str(path), full_page=True)


def pick(page, key: str, option: str) -> None:
    """Choose `option` in the selectbox with widget key `key`. A click that lands while the previous choice's
    rerun redraws the widget focuses it without opening its list: close and click again."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    box = page.locator(f".st-key-{key}").get_by_role("combobox")
    choice = page.locator('[data-testid="stSelectboxVirtualDropdown"]').get_by_text(option, exact=True)
    for _ in range(10):
        box.click()
        try:
            choice.click(timeout=5_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    expect(box).to_have_value(option)
    page.wait_for_timeout(500)  # the rerun the choice starts has redrawn the widgets below it


def cookie_set(context, name: str, timeout_s: float = 60.0) -> dict:
    """Wait until the browser holds cookie `name` (the page's script trades its grant asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == name]
        if found:
            return found[0]
        time.sleep(0.3)
    raise AssertionError(f"the browser never got the {name} cookie")
