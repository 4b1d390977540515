"""Accounts: argon2 hashes, validation, throttled sign-in (growing delays, never a lock of the owner),
sign-out; the migrated schema."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from halsted_hf.platform import AuthError, Platform, RateLimitError, Settings, SignedOutError
from halsted_hf.platform import accounts, throttle
from halsted_hf.platform.db import current_revision, init_db
from halsted_hf.platform.tables import Base, LoginAttempt, Surgeon, utcnow

from helpers import PASSWORD


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


def test_sign_up_never_signs_in_to_an_existing_account(platform, alice):
    with pytest.raises(AuthError, match="at least 10 characters"):
        platform.sign_up("carol@example.org", "Carol", "short")
    # An existing e-mail is refused with one sentence that says what to do, with a wrong password and with the
    # account's own: sign-up never opens the existing account (the name typed would be silently ignored).
    for password in ("another long password", PASSWORD):
        with pytest.raises(AuthError) as info:
            platform.sign_up("ALICE@example.org", "Alice 2", password, ip="203.0.113.9")
        assert str(info.value) == accounts.TAKEN and not isinstance(info.value, RateLimitError)
    with platform.Session() as db:
        assert db.scalar(select(Surgeon.id).where(Surgeon.email == "carol@example.org")) is None
        assert db.scalars(select(Surgeon.name)).all() == ["Alice"]
        # counted like failed sign-ins of that client (probing e-mails by sign-up is throttled too)
        assert db.scalars(select(LoginAttempt.client).where(LoginAttempt.success.is_(False))).all() == \
            ["ip:203.0.113.9"] * 2
    assert platform.sign_in("alice@example.org", PASSWORD).id == alice.id


def test_the_refusal_names_what_it_counts(platform, alice):
    """A browser, an address, or every browser whose address the server cannot see: never "this browser" for a
    count that other browsers share."""
    for client, words in (({"ip": "203.0.113.9"}, "from this network address for this account"),
                          ({}, "from browsers whose network address this server cannot see")):
        for _ in range(throttle.FREE_PER_PAIR + 1):
            err = _fails(platform, "alice@example.org", **client)
        assert isinstance(err, RateLimitError) and words in str(err) and "this browser" not in str(err)


def test_the_client_address_comes_from_the_configured_proxy_header_only():
    from halsted_hf.platform.client_address import client_address

    xff = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7"}  # the client wrote 6.6.6.6; the proxy appended the rest
    assert client_address(xff, None, "x-forwarded-for") == "198.51.100.7"
    assert client_address(xff, None, None) is None  # not configured: the header is not believed
    assert client_address(xff, "192.0.2.1", None) == "192.0.2.1"
    assert client_address({"X-Real-IP": "2001:db8::1"}, None, "X-Real-IP") == "2001:db8::1"
    assert client_address({"Forwarded": 'for=6.6.6.6, for="[2001:db8::2]:443";proto=https'}, None,
                          "Forwarded") == "2001:db8::2"
    for junk in ("not an address", "1.2.3.4, <script>", "9" * 5000):  # falls back to what the connection says
        assert client_address({"X-Forwarded-For": junk}, "192.0.2.1", "X-Forwarded-For") == "192.0.2.1"


def _age_attempts(platform, by: dt.timedelta):
    """Move the recorded attempts back in time (SQLite has no date arithmetic: do it in Python)."""
    with platform.Session.begin() as db:
        for attempt in db.scalars(select(LoginAttempt)):
            attempt.at -= by


def _fails(platform, email, password="wrong password!", **client):
    with pytest.raises(AuthError) as info:
        platform.sign_in(email, password, **client)
    return info.value


def test_failed_sign_ins_get_growing_delays_never_a_lock(platform, alice):
    attacker = {"ip": "203.0.113.9"}
    for _ in range(throttle.FREE_PER_PAIR):
        assert not isinstance(_fails(platform, "alice@example.org", **attacker), RateLimitError)
    waits = []
    for _ in range(12):
        refused = _fails(platform, "alice@example.org", PASSWORD, **attacker)  # even the right password waits
        assert isinstance(refused, RateLimitError) and "Too many failed sign-ins" in str(refused)
        waits.append(refused.retry_after_s)
        _age_attempts(platform, dt.timedelta(seconds=refused.retry_after_s + 0.01))
        assert not isinstance(_fails(platform, "alice@example.org", **attacker), RateLimitError)
    assert waits[:4] == pytest.approx([1, 2, 4, 8], abs=0.05)  # doubling...
    assert max(waits) <= throttle.MAX_DELAY.total_seconds() == 300  # ...to at most 5 minutes, never 15
    # refused attempts are not recorded: waiting always helps
    with platform.Session() as db:
        assert len(db.scalars(select(LoginAttempt)).all()) == throttle.FREE_PER_PAIR + 12


def test_the_owner_signs_in_while_an_attacker_is_throttled(platform, alice):
    from halsted_hf.platform import web_sessions

    # The owner signed in from this browser before (its device cookie came with the session cookie).
    _, grant = platform.start_web_session(platform.sign_in("alice@example.org", PASSWORD, ip="198.51.100.7"))
    _, device, _ = web_sessions.claim(platform.Session, grant, None)
    # An hour of guesses at her account from many addresses, far over ASVS's 100 a hour.
    with platform.Session.begin() as db:
        now = utcnow()
        db.add_all(LoginAttempt(email="alice@example.org", at=now - dt.timedelta(seconds=20 * i), success=False,
                                client=f"ip:203.0.113.{i % 50}") for i in range(150))
    attacker = {"ip": "203.0.113.1"}
    assert isinstance(_fails(platform, "alice@example.org", PASSWORD, **attacker), RateLimitError)
    newcomer = _fails(platform, "alice@example.org", PASSWORD, ip="192.0.2.55")  # a new browser waits (< 1 h)
    assert isinstance(newcomer, RateLimitError) and "not held up" in str(newcomer)
    # Her own browser, even behind the attacker's address, is held up only by its own failures.
    assert platform.sign_in("alice@example.org", PASSWORD, ip="203.0.113.1", device=device).id == alice.id
    for _ in range(throttle.FREE_PER_PAIR):
        _fails(platform, "alice@example.org", ip="203.0.113.1", device=device)
    assert isinstance(_fails(platform, "alice@example.org", PASSWORD, ip="203.0.113.1", device=device), RateLimitError)


def test_guesses_spread_over_many_emails_are_throttled_per_client(platform, alice):
    platform.sign_up("bob@example.org", "Bob", PASSWORD)
    for i in range(throttle.FREE_PER_CLIENT):  # one guess at each of many e-mails
        assert not isinstance(_fails(platform, f"user{i}@example.org", ip="203.0.113.9"), RateLimitError)
    refused = _fails(platform, "bob@example.org", PASSWORD, ip="203.0.113.9")
    assert isinstance(refused, RateLimitError) and "from this network address" in str(refused)
    # other clients are not affected; a success clears the pair's count
    assert platform.sign_in("bob@example.org", PASSWORD, ip="198.51.100.7").surgeon.email == "bob@example.org"
    for _ in range(throttle.FREE_PER_PAIR - 1):
        _fails(platform, "alice@example.org", ip="198.51.100.7")
    platform.sign_in("alice@example.org", PASSWORD, ip="198.51.100.7")
    for _ in range(throttle.FREE_PER_PAIR):
        assert not isinstance(_fails(platform, "alice@example.org", ip="198.51.100.7"), RateLimitError)


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
    assert current_revision(engine) == "0003"
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
