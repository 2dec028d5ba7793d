"""Reward-hacking probes (layer 3: uses core, adapters, data and meta).

Contract for what lands here: each probe is a small deterministic, seeded function of
(prompt, response) that should not raise a good scorer's value (padding, repetition, markdown
dressing, flattery, ...). Running probes scores originals and perturbed copies through any
``Scorer`` and reports score changes and hack rates with bootstrap intervals from
:mod:`metricrm.meta`, as a tidy frame that plotting can draw.

- :mod:`.perturbations`: the probes (:func:`get_probe`, :func:`list_probes`) and what each
  leaves untouched; :mod:`.text` finds the code they must not edit; :mod:`.phrases` holds
  the words they add.
- :mod:`.measure`: :func:`probe` (score change, rise rate, hack rate with intervals).
- :mod:`.best_of_n`: the unbiased best-of-n estimator from one pool of samples per prompt,
  the analytic KL, and the proxy/gold curves with intervals over prompts (over pools of
  generated samples, or of existing outputs grouped by item, e.g. MT systems per segment).
- :mod:`.sampling`: seeded samples from a causal LM, cached on disk and resumable.

torch and pandas are imported inside the functions that need them.
"""

from .best_of_n import (
    best_of_n,
    best_of_n_curve,
    best_of_n_estimates,
    best_of_n_items,
    best_of_n_kl,
    expected_best_of_n,
    selection_weights,
)
from .measure import COLUMNS, PairComparison, perturbed_pairs, probe
from .perturbations import (
    GENERAL_PROBES,
    REFERENCE_PROBES,
    Probe,
    get_probe,
    list_probes,
)
from .sampling import SamplePool, SampleSettings, sample_responses

__all__ = [
    "COLUMNS",
    "GENERAL_PROBES",
    "REFERENCE_PROBES",
    "PairComparison",
    "Probe",
    "SamplePool",
    "SampleSettings",
    "best_of_n",
    "best_of_n_curve",
    "best_of_n_estimates",
    "best_of_n_items",
    "best_of_n_kl",
    "expected_best_of_n",
    "get_probe",
    "list_probes",
    "perturbed_pairs",
    "probe",
    "sample_responses",
    "selection_weights",
]
