"""Exceptions raised by the power webhook package.

Every error names the field and the problem; none carries a secret (a webhook ID never reaches
this package).
"""

from __future__ import annotations


class PowerhookError(Exception):
    """Base class of every error raised by :mod:`powerhook`."""


class BodyError(PowerhookError, ValueError):
    """A webhook request is not acceptable: ``field`` names what, ``problem`` says why.

    ``field`` is a JSON path such as ``readings[3].watts``, or ``body`` / ``content-type`` for
    the request as a whole.
    """

    def __init__(self, field: str, problem: str) -> None:
        """Keep the field and the problem apart, for a JSON reason."""
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidStationStateError(PowerhookError, ValueError):
    """A saved station state cannot be restored (wrong shape or a non-finite number)."""
