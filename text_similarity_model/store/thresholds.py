"""``Thresholds``: what a candidate version must hold against the current one
before a promotion (the checks themselves: ``checks.py``). Each validates its
own range (the command line turns a bad one into a usage error). This
module needs no NumPy, so ``--help`` and argument errors stay fast."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PalestrasError


@dataclass(frozen=True)
class Thresholds:
    """What a candidate must hold against the current version; each overridable from the CLI."""

    min_talks_share: float = 0.8
    max_empty_share: float = 0.05
    max_duplicate_share: float = 0.05
    quality_tolerance: float = 0.02
    max_queries: int = 2000
    seed: int = 0
    #: How much lower than the current configuration's a new configuration's judged nDCG@10 may be.
    judged_tolerance: float = 0.01

    def __post_init__(self):
        for name in ("min_talks_share", "max_empty_share", "max_duplicate_share", "quality_tolerance",
                     "judged_tolerance"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ThresholdError(name, f"must be between 0 and 1, got {value}")
        if self.max_queries < 1:
            raise ThresholdError("max_queries", f"must be at least 1, got {self.max_queries}")


class ThresholdError(PalestrasError):
    """A threshold out of its range; ``name`` is the :class:`Thresholds` field."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name} {problem}")
        self.name, self.problem = name, problem


#: The thresholds unless told otherwise (each overridable from the command line).
DEFAULT_THRESHOLDS = Thresholds()
