"""Composite rewards (layer 3: uses core, adapters, data and meta).

Contract for what lands here:

- **Normalizers are fitted, then frozen.** A normalizer (z-score, robust, min-max, rank, or
  Bradley-Terry calibration) is fitted explicitly on calibration data and saved with the
  composite, so one item's reward never depends on the other items of its batch.
- **Composites are Scorers.** A composite is a registered ``BaseScorer`` usable everywhere a
  scorer is (meta-evaluation, the score cache, the CLI); its signature names each component's
  signature, the weights and a digest of the fitted normalizers, and ``details`` holds every
  component's raw and normalised score.
- Weight learning, Pareto analysis and export to trainers build on those two.

:mod:`.normalizers` holds the normalizers; the composite scorer and weight learning build on it.
"""

from .normalizers import (
    BradleyTerryNormalizer,
    IdentityNormalizer,
    MinMaxNormalizer,
    Normalizer,
    RankNormalizer,
    RobustNormalizer,
    ZScoreNormalizer,
    make_normalizer,
    reliability_table,
)

__all__ = [
    "BradleyTerryNormalizer",
    "IdentityNormalizer",
    "MinMaxNormalizer",
    "Normalizer",
    "RankNormalizer",
    "RobustNormalizer",
    "ZScoreNormalizer",
    "make_normalizer",
    "reliability_table",
]
