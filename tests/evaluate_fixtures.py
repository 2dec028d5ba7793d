"""Our small local Hugging Face ``evaluate`` modules used as test fixtures.

Importing this module switches ``evaluate`` and the hub client to offline mode (they read the
variables when first imported); the fixtures are local folders and never need the network.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"

EVALUATE_MODULES = Path(__file__).resolve().parent / "fixtures" / "evaluate_modules"
#: single reference per prediction, returns one corpus-level rate (no per-item list)
EXACT_MATCH_RATE = EVALUATE_MODULES / "exact_match_rate"
#: one or several references per prediction, returns a per-item list (NaN for token-less text)
TOKEN_PRECISION = EVALUATE_MODULES / "token_precision"

#: what the registry-wide tests pass to ``get_scorer("hf_evaluate", ...)``
HF_EVALUATE_KWARGS = {"module": str(TOKEN_PRECISION)}
