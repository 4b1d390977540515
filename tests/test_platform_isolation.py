"""No surgeon can reach another's video, job or result by id: a foreign id behaves exactly like
an id that does not exist, for reads, paths, deletes, cancels, retries, reviews and listings."""

from __future__ import annotations

import pytest

from halsted_hf.platform import NotFoundError
from halsted_hf.platform import jobs

from helpers import PASSWORD, cheap_argon2, make_timeline, new_platform

MISSING = 999_999


def give_alice_things(platform, alice, videos):
    """Alice owns a video with a finished job and result, a running job and a failed one."""
    v = alice.upload_video(videos["a"])
    done = alice.enqueue_job(v.id, "suturing")
    jobs.claim_next(platform.Session, "w")
    result_id = jobs.complete(platform.Session, done.id, "w", make_timeline().to_json(), "prostatectomy")
    failed = alice.enqueue_job(v.id, "procedure")
    jobs.claim_next(platform.Session, "w")
    jobs.finish(platform.Session, failed.id, "w", "failed", "boom")
    running = alice.enqueue_job(v.id, "dissection")
    jobs.claim_next(platform.Session, "w")
    return {"video": v.id, "done": done.id, "failed": failed.id, "running": running.id, "result": result_id}


@pytest.fixture
def alices_things(platform, alice, videos):
    return give_alice_things(platform, alice, videos)


@pytest.fixture(scope="module")
def world(tmp_path_factory, videos):
    """One database for the read-only probes below (built once: they only try, and fail, to reach)."""
    import halsted_hf.platform.accounts as accounts

    saved, accounts._hasher = accounts._hasher, cheap_argon2()
    p = new_platform(tmp_path_factory.mktemp("isolation") / "data")
    alice = p.sign_up("alice@example.org", "Alice", PASSWORD)
    bob = p.sign_up("bob@example.org", "Bob", PASSWORD)
    things = give_alice_things(p, alice, videos)
    accounts._hasher = saved
    yield bob, things
    p.dispose()


def message_for(call, some_id):
    with pytest.raises(NotFoundError) as info:
        call(some_id)
    return str(info.value).replace(str(some_id), "<id>")


@pytest.mark.parametrize("action, kind", [
    ("get_video", "video"), ("video_path", "video"), ("thumbnail_path", "video"), ("delete_video", "video"),
    ("latest_result", "video"),
    ("get_job", "done"), ("cancel_job", "running"), ("retry_job", "failed"),
    ("get_result", "result"), ("delete_result", "result"), ("review", "result"),
])
def test_foreign_id_is_indistinguishable_from_missing(world, action, kind):
    bob, alices_things = world
    call = getattr(bob, action)
    foreign = message_for(call, alices_things[kind])
    missing = message_for(call, MISSING)
    assert foreign == missing


def test_enqueue_on_a_foreign_video_is_refused(world):
    bob, alices_things = world
    assert message_for(lambda i: bob.enqueue_job(i, "suturing"), alices_things["video"]) == \
        message_for(lambda i: bob.enqueue_job(i, "suturing"), MISSING)


def test_listings_and_summaries_show_only_own_data(platform, alice, bob, alices_things, videos):
    bob.upload_video(videos["b"])
    assert [v.id for v in alice.list_videos()] == [alices_things["video"]]
    assert alices_things["video"] not in [v.id for v in bob.list_videos()]
    assert bob.list_jobs() == [] and bob.list_results() == []
    assert bob.list_jobs(video_id=alices_things["video"]) == []
    assert bob.list_results(video_id=alices_things["video"]) == []
    assert [r.id for r in bob.library()] != [] and all(r.latest_job is None for r in bob.library())
    summary = bob.summary()
    assert (summary.videos, summary.mapped_videos, summary.stitches, summary.recent) == (1, 0, 0, [])
    assert alice.summary().mapped_videos == 1


def test_failed_attempts_change_nothing_of_alices(platform, alice, bob, alices_things):
    for call, key in [(bob.delete_video, "video"), (bob.cancel_job, "running"), (bob.retry_job, "failed"),
                      (bob.delete_result, "result")]:
        with pytest.raises(NotFoundError):
            call(alices_things[key])
    v = alice.get_video(alices_things["video"])
    assert v.path.is_file() and v.thumbnail.is_file()
    assert alice.get_job(alices_things["running"]).status == "running"
    assert not alice.get_job(alices_things["running"]).cancel_requested
    assert alice.get_job(alices_things["failed"]).status == "failed"
    assert alice.get_result(alices_things["result"]).video_id == v.id
    # and alice herself can do all of it
    assert alice.cancel_job(alices_things["running"]).cancel_requested
    assert alice.retry_job(alices_things["failed"]).status == "queued"
    alice.delete_video(v.id)
    assert not v.path.exists() and alice.list_results() == []
