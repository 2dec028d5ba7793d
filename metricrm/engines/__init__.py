"""Engines that run scorers elsewhere than in this process.

- :mod:`.ray_data`: score a table on a Ray cluster with Ray Data (``pip install
  "metricrm[ray]"``): :func:`score_dataset`, and :class:`RayEngine` for
  ``with metricrm.use_engine(RayEngine(...)):`` around ``score_pairs`` or ``meta_evaluate``.

Ray is imported only when an engine runs, so ``import metricrm`` stays light.
"""

from .ray_data import RayEngine, read_shards, score_dataset

__all__ = ["RayEngine", "read_shards", "score_dataset"]
