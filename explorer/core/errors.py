"""Errors a person can act on: the message says what went wrong and what to do."""


class ExplorerError(Exception):
    """A problem the user can fix; the message is shown as it is, without a traceback."""


class WeightsUnavailableError(ExplorerError):
    """Pretrained weights are neither bundled, cached nor downloadable right now."""


class DatasetError(ExplorerError):
    """The dataset cannot be used as a whole (missing folder, no readable image)."""


class RunFolderError(ExplorerError):
    """A run folder holds something else, or cannot be written."""


class DecodeError(Exception):
    """One file could not be turned into an image; becomes a row with a status, not a crash.

    kind: a short status word ("truncated", "unreadable", "empty", "too-large", "missing").
    """

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
