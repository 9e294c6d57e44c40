"""The one error hierarchy of pushgate.

PushgateError
 ├── InvalidReference        a malformed image reference, tag, slug or repository name
 ├── InvalidRequest          a push request that cannot be served (names the field)
 ├── ConfigurationError      settings that cannot work (missing token file, bad URL, ...)
 ├── JobNotFound             no job record under that id (expired or never existed)
 ├── JobConflict             the job is in a state that forbids the operation
 ├── IdempotencyConflict     an Idempotency-Key reused with another request body
 ├── StoreUnavailable        Redis cannot be reached
 └── PushError               a push failed; `type` is the job's error type
      ├── AuthError          auth:      credentials refused or without rights
      │    └── CredentialsUnreadable    an operator's credential file cannot be read (also a
      │                                 ConfigurationError); the detail names the file
      ├── NotFoundError      not_found: the source image, tag or platform does not exist
      ├── RejectedError      rejected:  the target registry refused what we sent
      │    └── UnsignedImage            the app requires a signature the image lacks
      ├── NetworkError       network:   a registry or daemon could not be reached
      │    ├── TransientRegistryError   408, 429 or 5xx: worth a retry
      │    └── PlainHttpError           TLS spoken to a plain-HTTP port: not worth one
      ├── DeadlineExceeded   timeout:   the job ran past its deadline
      ├── PushCancelled      cancelled: somebody cancelled the job
      └── InternalError      internal:  a fault of pushgate itself
"""

from __future__ import annotations


class PushgateError(Exception):
    """Root of every error pushgate raises on purpose."""


class InvalidReference(PushgateError, ValueError):
    """A reference, tag, slug or repository name does not follow the OCI grammar."""


class InvalidRequest(PushgateError, ValueError):
    """A push request that cannot be served as asked; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class ConfigurationError(PushgateError):
    """The settings cannot work as given."""


class JobNotFound(PushgateError):
    """No job record exists under the given id."""


class JobConflict(PushgateError):
    """The job's state forbids the requested operation."""


class IdempotencyConflict(PushgateError):
    """An Idempotency-Key was reused with a different request body."""


class StoreUnavailable(PushgateError):
    """The job store (Redis) cannot be reached."""


class PushError(PushgateError):
    """A push failed; `type` names the class of failure recorded on the job."""

    type = "internal"
    title = "Internal error"
    retryable = False  # the engine's RetryState tries again only when this is True
    budget_spent = False  # True once a retry budget was spent on it: no outer loop retries it

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class AuthError(PushError):
    """The registry refused the credentials, or they lack rights to the repository."""

    type = "auth"
    title = "Not authorised"


class CredentialsUnreadable(AuthError, ConfigurationError):
    """A credential file the operator provides (token file, Docker config.json) cannot be read
    or parsed; the detail names the file and the problem."""

    title = "Credentials unreadable"


class NotFoundError(PushError):
    """The source image, tag, blob or platform does not exist."""

    type = "not_found"
    title = "Not found"


class RejectedError(PushError):
    """The target registry refused a manifest or blob."""

    type = "rejected"
    title = "Rejected by the registry"


class UnsignedImage(RejectedError):
    """The app's policy requires a valid signature by its keys, and the image has none for
    the digest named: refused before anything is written."""

    title = "Rejected: no valid signature"


class NetworkError(PushError):
    """A registry or daemon could not be reached, or the connection broke."""

    type = "network"
    title = "Network failure"
    retryable = True


class DeadlineExceeded(PushError):
    """The job ran past its deadline."""

    type = "timeout"
    title = "Deadline exceeded"


class PushCancelled(PushError):
    """The job was cancelled by a caller."""

    type = "cancelled"
    title = "Cancelled"


class InternalError(PushError):
    """A fault of pushgate itself."""

    type = "internal"
    title = "Internal error"


class TransientRegistryError(NetworkError):
    """A registry answered with a status worth retrying (408, 429, 5xx)."""

    def __init__(self, detail: str, status: int, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.retry_after = retry_after


class PlainHttpError(NetworkError):
    """A TLS handshake met a plain-HTTP server: the same attempt would fail the same way."""

    retryable = False
