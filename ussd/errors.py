"""Errors that end a step early: raised where the step's work is done (a provider, the
renderer), handled once by the engine, which ends the dialogue on its error screen."""

from __future__ import annotations


class StepAborted(Exception):
    """The step cannot be completed truthfully: the engine ends the dialogue on its "service
    momentarily unavailable" screen and keeps nothing of it."""


class Unavailable(StepAborted):
    """What a provider's data lives in cannot be reached (an outage, a timeout): not the same as
    no data, so the engine does not route on an absent value (an outage is not an unknown
    subscriber)."""


class StepTooLarge(StepAborted):
    """A step rendered more text or evaluated more templates than one step may (see
    :class:`ussd.render.StepBudget`): a menu mistake must not take a worker's time and memory."""
