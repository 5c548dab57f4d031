"""What asking for a map can end in: one outcome type, one error policy.

- a map (:class:`~core.attribution.Attribution`: the heatmap, its seconds, the engine
  that ran it, notes);
- :class:`NotApplicable`: the method cannot explain this model, with the reason;
- :class:`Failed`: something went wrong, with the reason and whether trying again can
  help (bad settings fail again; running out of memory or a crash may not).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.attribution import Attribution, MethodNotApplicable


@dataclass(frozen=True)
class NotApplicable:
    """The method does not apply to this model.

    Attributes:
        reason: Why, in plain words ("LRP does not support SiLU activations").
    """

    reason: str


@dataclass(frozen=True)
class Failed:
    """The map could not be computed.

    Attributes:
        reason: What went wrong.
        retry: True when trying again may work (not for bad settings).
        error: The exception's class name.
    """

    reason: str
    retry: bool
    error: str = ""


MapOutcome = Attribution | NotApplicable | Failed


def outcome_of_error(err: Exception) -> NotApplicable | Failed:
    """The one error policy: what an exception from a method means for its tile.

    A method that does not apply is said so; bad settings (``ValueError``,
    ``TypeError``) fail for good; anything else (out of memory, a crash) may work when
    tried again.
    """
    if isinstance(err, MethodNotApplicable):
        return NotApplicable(str(err))
    retry = not isinstance(err, ValueError | TypeError)
    return Failed(str(err) or type(err).__name__, retry, type(err).__name__)


def cacheable(outcome: MapOutcome) -> bool:
    """Outcomes that would be the same next time: maps, "does not apply", bad settings."""
    return not (isinstance(outcome, Failed) and outcome.retry)
