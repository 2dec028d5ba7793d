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

Modules: :mod:`.normalizers`, :mod:`.composite` (the scorer), :mod:`.files` (the YAML/JSON
composite file).
"""

from .composite import FORMAT, Component, Composite, Gate, composite_to_dict, write_composite
from .files import composite_from_dict, load_composite, read_composite_file
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
    "FORMAT",
    "BradleyTerryNormalizer",
    "Component",
    "Composite",
    "Gate",
    "IdentityNormalizer",
    "MinMaxNormalizer",
    "Normalizer",
    "RankNormalizer",
    "RobustNormalizer",
    "ZScoreNormalizer",
    "composite_from_dict",
    "composite_to_dict",
    "load_composite",
    "make_normalizer",
    "read_composite_file",
    "reliability_table",
    "write_composite",
]
