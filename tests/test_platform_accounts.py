"""Accounts: argon2 hashes, validation, rate-limited sign-in, sign-out; the migrated schema."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from halsted_hf.platform import AuthError, Platform, RateLimitError, Settings, SignedOutError
from halsted_hf.platform.accounts import FAILURE_WINDOW, MAX_FAILURES
from halsted_hf.platform.db import current_revision, init_db
from halsted_hf.platform.models import Base, LoginAttempt, Surgeon

from test_platform_support import PASSWORD, alice, platform  # noqa: F401  (fixtures)


def test_password_is_stored_as_argon2_hash_not_plaintext(platform, alice):
    with platform.Session() as db:
        stored = db.scalar(select(Surgeon.password_hash).where(Surgeon.id == alice.id))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    # and nowhere else in the database file either
    raw = platform.settings.data_dir.joinpath("halsted.db").read_bytes()
    assert PASSWORD.encode() not in raw


def test_sign_in_with_right_and_wrong_password(platform, alice):
    me = platform.sign_in("  Alice@Example.org ", PASSWORD)  # e-mails are case- and space-insensitive
    assert me.id == alice.id and me.surgeon.name == "Alice"
    with pytest.raises(AuthError, match="e-mail or the password is wrong"):
        platform.sign_in("alice@example.org", PASSWORD + "x")
    # an unknown e-mail gets the same message: accounts cannot be discovered
    with pytest.raises(AuthError, match="e-mail or the password is wrong"):
        platform.sign_in("nobody@example.org", PASSWORD)


@pytest.mark.parametrize("email", ["", "alice", "alice@", "@example.org", "a b@example.org", "alice@example"])
def test_sign_up_rejects_bad_emails(platform, email):
    with pytest.raises(AuthError, match="not a valid e-mail"):
        platform.sign_up(email, "X", PASSWORD)


def test_sign_up_rejects_short_password_and_duplicate_email(platform, alice):
    with pytest.raises(AuthError, match="at least 10 characters"):
        platform.sign_up("carol@example.org", "Carol", "short")
    with pytest.raises(AuthError, match="already exists"):
        platform.sign_up("ALICE@example.org", "Alice 2", PASSWORD)
    with platform.Session() as db:
        assert db.scalar(select(Surgeon.id).where(Surgeon.email == "carol@example.org")) is None


def _age_attempts(platform, email, by: dt.timedelta):
    """Move the recorded attempts back in time (SQLite has no date arithmetic: do it in Python)."""
    with platform.Session.begin() as db:
        for attempt in db.scalars(select(LoginAttempt).where(LoginAttempt.email == email)):
            attempt.at -= by


def test_failed_sign_ins_are_rate_limited_then_released(platform, alice):
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError) as info:
            platform.sign_in("alice@example.org", "wrong password!")
        assert not isinstance(info.value, RateLimitError)
    # now even the right password is refused, with a wait in minutes
    with pytest.raises(RateLimitError, match=r"Too many failed sign-ins .* try again in 15 minutes") as info:
        platform.sign_in("alice@example.org", PASSWORD)
    assert 14 * 60 < info.value.retry_after_s <= 15 * 60
    # refused attempts are not recorded: waiting always helps
    with platform.Session() as db:
        assert len(db.scalars(select(LoginAttempt).where(LoginAttempt.email == "alice@example.org")).all()) == MAX_FAILURES

    _age_attempts(platform, "alice@example.org", FAILURE_WINDOW - dt.timedelta(minutes=3))
    with pytest.raises(RateLimitError, match="try again in 3 minutes"):
        platform.sign_in("alice@example.org", PASSWORD)
    _age_attempts(platform, "alice@example.org", dt.timedelta(minutes=4))
    assert platform.sign_in("alice@example.org", PASSWORD).id == alice.id


def test_rate_limit_is_per_email_and_reset_by_success(platform, alice):
    platform.sign_up("bob@example.org", "Bob", PASSWORD)
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(AuthError):
            platform.sign_in("alice@example.org", "wrong password!")
    platform.sign_in("alice@example.org", PASSWORD)  # a success starts the count again
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(AuthError):
            platform.sign_in("alice@example.org", "wrong password!")
    platform.sign_in("alice@example.org", PASSWORD)
    for _ in range(MAX_FAILURES):
        with pytest.raises(AuthError):
            platform.sign_in("mallory@example.org", "guess guess guess")
    with pytest.raises(RateLimitError):
        platform.sign_in("mallory@example.org", "guess guess guess")
    assert platform.sign_in("bob@example.org", PASSWORD).surgeon.email == "bob@example.org"


def test_sign_out_closes_the_session(platform, alice):
    assert alice.signed_in and alice.list_videos() == []
    platform.sign_out(alice)
    assert not alice.signed_in
    with pytest.raises(SignedOutError, match="sign in again"):
        alice.list_videos()
    with pytest.raises(SignedOutError):
        alice.enqueue_job(1, "suturing")


def test_migrations_build_exactly_the_models_schema(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'm.db'}"
    engine = init_db(url)
    init_db(url)  # a second start-up is a no-op
    assert current_revision(engine) == "0001"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()


def test_settings_from_environment(tmp_path):
    env = {"HALSTED_DATA_DIR": str(tmp_path / "d"), "HALSTED_SPACE": "org/halsted"}
    s = Settings.from_env(env)
    assert s.data_dir == (tmp_path / "d").resolve()
    assert s.database_url == f"sqlite:///{(tmp_path / 'd' / 'halsted.db').resolve()}"
    assert s.space == "org/halsted" and s.model.endswith("demo-model")
    s = Settings.from_env({"HALSTED_DATABASE_URL": "sqlite:////x/y.db", "HALSTED_MODEL": "/m"}, data_dir=tmp_path)
    assert s.database_url == "sqlite:////x/y.db" and s.model == "/m" and s.space is None
    p = Platform(Settings(data_dir=tmp_path / "fresh"))
    assert (tmp_path / "fresh" / "halsted.db").is_file()
    p.dispose()


def test_production_hasher_uses_strong_argon2id_parameters():
    # The tests swap in a cheap hasher; the one users get must meet OWASP's argon2id minimum.
    from argon2 import Type

    from halsted_hf.platform import accounts

    params = accounts._hasher._parameters
    assert params.type is Type.ID and params.time_cost >= 2 and params.memory_cost >= 19 * 1024
    assert accounts._hasher.verify(accounts._hasher.hash(PASSWORD), PASSWORD)
