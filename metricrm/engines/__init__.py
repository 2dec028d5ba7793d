"""Engines that run scorers elsewhere than in this process.

- :mod:`.ray_data`: score a table on a Ray cluster with Ray Data (``pip install
  "metricrm[ray]"``): :func:`score_dataset`, and :class:`RayEngine` for
  ``with metricrm.use_engine(RayEngine(...)):`` around ``score_pairs`` or ``meta_evaluate``.

- :mod:`.reward_server`: a scorer or composite as a reward server on Ray Serve (``pip install
  "metricrm[serve]"``): :func:`serve_scorer`; :func:`serve_in_thread` serves the same
  endpoints from a thread without Ray. The endpoints themselves are in :mod:`.reward_protocol`.

Ray is imported only when an engine runs, so ``import metricrm`` stays light.
"""

from .ray_data import RayEngine, read_shards, score_dataset
from .reward_server import serve_in_thread, serve_scorer

__all__ = ["RayEngine", "read_shards", "score_dataset", "serve_in_thread", "serve_scorer"]
