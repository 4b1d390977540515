"""The data layer on PostgreSQL: migrations, accounts, uploads, isolation, atomic claims, a worker.

Runs against HALSTED_TEST_POSTGRES_URL when set, else against a throw-away server started from
the local PostgreSQL binaries (initdb/pg_ctl, as the `postgres` user when run as root). Skipped,
with the reason, only where neither exists: PostgreSQL is optional for Halsted.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg  # noqa: F401  (the PostgreSQL driver: the dev extra installs it; the tests need it)
import pytest
from sqlalchemy import create_engine, select, text

from halsted_hf.platform import NotFoundError, Platform, Settings
from halsted_hf.platform.db import current_revision
from halsted_hf.platform.tables import Base, Job

from helpers import PASSWORD, TimelineBackend, claim_all_jobs, corrections_round_trip



def _pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    bases = sorted(os.listdir("/usr/lib/postgresql"), reverse=True) if os.path.isdir("/usr/lib/postgresql") else []
    for base in bases:
        candidate = os.path.join("/usr/lib/postgresql", base, "bin", name)
        if os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="module")
def pg_server():
    """URL of a server where we may create databases."""
    if os.environ.get("HALSTED_TEST_POSTGRES_URL"):
        yield os.environ["HALSTED_TEST_POSTGRES_URL"]
        return
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("no PostgreSQL server: set HALSTED_TEST_POSTGRES_URL or install postgresql "
                    "(scripts/install_system_deps.sh)")
    # Not under pytest's tmp dir: that one is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="halsted-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(as_user + [initdb, "-D", str(data), "-U", "halsted", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(as_user + [pg_ctl, "-D", str(data), "-o", opts, "-w", "-l", str(root / "log"), "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://halsted@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(as_user + [pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_platform(pg_server, tmp_path):
    name = f"halsted_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = pg_server.rsplit("/", 1)[0] + f"/{name}"
    # stored as uploaded (the SQLite tests do the same): de-identification on upload is tested in test_platform_deid.py
    p = Platform(Settings(data_dir=tmp_path / "data", database_url=url, deidentify=False))
    yield p
    p.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def test_postgres_end_to_end(pg_platform, videos):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    p = pg_platform
    assert p.engine.dialect.name == "postgresql" and current_revision(p.engine) == "0003"
    with p.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    Platform(p.settings).dispose()  # a second start-up migrates nothing and does not fail

    alice = p.sign_up("alice@example.org", "Alice", PASSWORD)
    bob = p.sign_up("bob@example.org", "Bob", PASSWORD)
    assert p.sign_in("alice@example.org", PASSWORD).id == alice.id
    va = alice.upload_video(videos["a"])
    assert alice.upload_video(videos["a"]).id == va.id
    vb = bob.upload_video(videos["a"])
    assert vb.id != va.id and vb.path == va.path
    with pytest.raises(NotFoundError):
        bob.get_video(va.id)
    job = alice.enqueue_job(va.id, "suturing")
    with pytest.raises(NotFoundError):
        bob.cancel_job(job.id)

    from halsted_hf.platform.worker import Worker

    assert Worker(p, backend=TimelineBackend(), log=lambda m: None).run(once=True) == 1
    assert alice.get_job(job.id).status == "done" and len(alice.list_results()) == 1
    assert alice.summary().stitches == 2 and bob.list_results() == []
    alice.delete_video(va.id)
    assert vb.path.is_file()
    bob.delete_video(vb.id)
    assert not vb.path.exists()


def test_postgres_sessions_throttling_and_proxies(pg_platform, tmp_path):
    """The queries of migration 0002's tables on PostgreSQL: web sessions, throttling, proxies."""
    from halsted_hf.platform import RateLimitError, storage, throttle, web_sessions
    from helpers import hard_to_play_videos

    p = pg_platform
    alice = p.sign_up("alice@example.org", "Alice", PASSWORD)
    _, grant = p.start_web_session(alice)
    token, device, _ = web_sessions.claim(p.Session, grant, None)
    me, session_id = p.session_from_cookie(token)
    assert me.id == alice.id
    for _ in range(throttle.FREE_PER_PAIR):
        with pytest.raises(Exception):
            p.sign_in("alice@example.org", "wrong password!", ip="203.0.113.9")
    with pytest.raises(RateLimitError):
        p.sign_in("alice@example.org", PASSWORD, ip="203.0.113.9")
    assert p.sign_in("alice@example.org", PASSWORD, ip="203.0.113.9", device=device).id == alice.id
    p.end_web_session(session_id)
    assert p.session_from_cookie(token) is None
    v = alice.upload_video(hard_to_play_videos(tmp_path / "hard")["cinepak"])
    assert storage.ensure_proxy(p.settings, p.Session, v.id) and alice.get_video(v.id).proxy.is_file()


def test_postgres_concurrent_claims(pg_platform, videos):
    p = pg_platform
    alice = p.sign_up("alice@example.org", "Alice", PASSWORD)
    vid = alice.upload_video(videos["a"]).id
    with p.Session.begin() as db:
        for _ in range(30):
            db.add(Job(owner_id=alice.id, video_id=vid, mapping="suturing", status="queued", progress_done=0,
                       progress_total=0, attempts=0, cancel_requested=False))
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    url = p.engine.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=claim_all_jobs, args=(url, start, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    start.set()
    claimed = [i for _ in procs for i in out.get(timeout=120)]
    for proc in procs:
        proc.join(timeout=60)
    assert len(claimed) == len(set(claimed)) == 30
    with p.Session() as db:
        assert set(db.scalars(select(Job.status))) == {"running"}


def test_postgres_corrections_migration_0003(pg_platform, videos):
    corrections_round_trip(pg_platform, videos)
