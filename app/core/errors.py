"""Exception types a user can cause; the CLI and the window show their message as-is.

Every error that results from user input (a bad file, a wrong mask size, a value out of
range, a cancelled job) derives from :class:`PatinaError`; its ``str()`` is a one-line
message a person understands, without a traceback.
"""


class PatinaError(Exception):
    """Base class of user-facing errors: ``str(err)`` is the message to show."""


class ImageIOError(PatinaError):
    """An image could not be read or written (missing, corrupt, unsupported, too large)."""


class InvalidInputError(PatinaError):
    """An argument is wrong: a mask of the wrong size, a parameter out of range, ..."""


class Cancelled(PatinaError):
    """A job was cancelled by the user between two tiles."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)


def one_line(err: BaseException) -> str:
    """``str(err)`` with its whitespace collapsed to single spaces (the type name if empty)."""
    return " ".join(str(err).split()) or type(err).__name__
