"""Errors of the data layer. All are HalstedError subclasses: pages show their message as is."""

from __future__ import annotations

from ..core.errors import HalstedError


class AuthError(HalstedError):
    """Sign-up or sign-in refused: a bad e-mail, a short password, wrong credentials."""


class RateLimitError(AuthError):
    """Too many failed sign-ins for one e-mail; `retry_after_s` says when to try again."""

    def __init__(self, message: str, retry_after_s: float):
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SignedOutError(AuthError):
    """A SurgeonSession used after sign_out()."""


class NotFoundError(HalstedError, LookupError):
    """A video, job or result that does not exist *or belongs to another surgeon*: both give the
    same message, so ids reveal nothing about other surgeons' data."""


class JobStateError(HalstedError):
    """An action that the job's current status does not allow (e.g. retrying a running job)."""


class BackendError(HalstedError):
    """Inference failed outside our control (a sleeping Space, quota, a timeout). `retryable`
    says whether running the job again may succeed."""

    def __init__(self, message: str, retryable: bool = True):
        super().__init__(message)
        self.retryable = retryable


class JobCancelled(HalstedError):
    """Raised inside a worker when the surgeon cancelled the job while it ran."""
