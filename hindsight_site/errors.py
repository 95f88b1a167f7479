"""Domain errors raised by services and turned into ``{"detail": ...}`` responses in one place (``api``)."""


class DomainError(Exception):
    """A request the domain refuses; ``detail`` says why in words a client developer can act on."""

    status_code = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Unavailable(DomainError):
    status_code = 503


class NotImplementedByServer(DomainError):
    """A contract route or option this server does not offer (yet): 501, never a crash or a silent no-op."""

    status_code = 501
