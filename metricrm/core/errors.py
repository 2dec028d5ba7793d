"""Every exception metricrm raises. Each message names who failed, what was expected, what was
received, and where."""

from __future__ import annotations

from typing import Any


class MetricRMError(Exception):
    """Base class for metricrm errors."""


class ScorerInputError(MetricRMError, ValueError):
    """A scorer received input it cannot score (wrong length, type, empty text, ...)."""


class ScorerOutputError(MetricRMError, ValueError):
    """A scorer's backend produced an unusable value (NaN, wrong length, ...)."""


class UnknownScorerError(MetricRMError, KeyError):
    """No scorer is registered under the requested name."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly.
        return str(self.args[0]) if self.args else ""


class ScorerConfigError(MetricRMError, TypeError, ValueError):
    """A scorer (or a statistic, loader or trainer) was given a setting it does not know, or a
    value it cannot use. A ``TypeError`` for an unknown or mistyped setting and a ``ValueError``
    for a bad value, so it is caught as either."""


class DataFormatError(MetricRMError, ValueError):
    """A data file or table is malformed, truncated, or missing a column."""


class DataNotFoundError(DataFormatError, FileNotFoundError):
    """A data file or folder does not exist (also a ``FileNotFoundError``)."""


class MissingDependencyError(MetricRMError, ImportError):
    """An optional dependency needed by a scorer or loader is not installed."""


class ModelUnavailableError(MetricRMError, OSError):
    """A model folder is missing, or a hub id cannot be fetched (offline, unreachable, unknown)."""


class NotFittedError(MetricRMError, ValueError):
    """A fitted object (a composite's normalizer, say) was used before it was fitted."""


class WorkerProcessError(MetricRMError, RuntimeError):
    """A worker process of the scoring pool died (killed, out of memory) before it finished."""


class PartialScoringError(MetricRMError, RuntimeError):
    """Scoring failed part-way; ``partial`` holds the result for the items that finished."""

    def __init__(self, message: str, partial: Any, failed_at: int) -> None:
        super().__init__(message)
        self.partial = partial
        self.failed_at = failed_at


class RemoteScoringError(MetricRMError, RuntimeError):
    """A reward server could not be reached, or failed inside its scorer (``status`` holds the
    HTTP status, None when no answer came)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class BadRequestError(MetricRMError, ValueError):
    """A reward server refused a request before scoring it (``status``: the HTTP status)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
