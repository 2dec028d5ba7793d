"""Exception types. Every message names who failed, what was expected, what was received, and where."""

from __future__ import annotations


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


class ScorerConfigError(MetricRMError, TypeError):
    """A scorer was given a setting it does not know or a value it cannot use."""


class DataFormatError(MetricRMError, ValueError):
    """A data file or table is malformed, truncated, or missing a column."""


class MissingDependencyError(MetricRMError, ImportError):
    """An optional dependency needed by a scorer or loader is not installed."""
