"""The dashboard's data layer: database, accounts, storage, jobs, worker, inference backends,
analytics. Pages use `Platform` and the `SurgeonSession` it returns; nothing else.

    from halsted_hf.platform import Platform
    me = Platform().sign_in(email, password)
    me.library(sort="uploaded_at"); me.summary(); me.review(result_id)
"""

from .service import Platform
from .errors import AuthError, BackendError, JobStateError, NotFoundError, RateLimitError, SignedOutError
from .tables import JOB_STATUSES
from .records import JobRecord, ResultRecord, SurgeonRecord, VideoRecord
from .session import SurgeonSession
from .settings import Settings

__all__ = [
    "Platform", "Settings", "SurgeonSession", "SurgeonRecord", "VideoRecord", "JobRecord", "ResultRecord",
    "AuthError", "RateLimitError", "SignedOutError", "NotFoundError", "JobStateError", "BackendError",
    "JOB_STATUSES",
]
