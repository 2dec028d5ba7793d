"""RewardBench's published constants (allenai/reward-bench ``rewardbench/constants.py``
@a32e272): example counts used as subset weights, sections and prior sets. Data only, so the
pairwise statistics and the RewardBench scoring can both read them."""

from __future__ import annotations

from collections.abc import Mapping

#: Published example counts used as subset weights (RewardBench ``EXAMPLE_COUNTS``).
REWARDBENCH_EXAMPLE_COUNTS: Mapping[str, int] = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "math-prm": 984,  # 447 pairs, counted as 6 x 164 to weigh as much as the code subsets
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "xstest-should-refuse": 250,
    "xstest-should-respond": 154,
    "donotanswer": 136,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}

#: RewardBench's sections (``SUBSET_MAPPING``).
REWARDBENCH_SECTIONS: Mapping[str, tuple[str, ...]] = {
    "Chat": (
        "alpacaeval-easy",
        "alpacaeval-length",
        "alpacaeval-hard",
        "mt-bench-easy",
        "mt-bench-med",
    ),
    "Chat Hard": (
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ),
    "Safety": (
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ),
    "Reasoning": ("math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"),
}

#: The prior test sets averaged (plain mean of those present) into the "Prior Sets" section.
REWARDBENCH_PRIOR_SETS: tuple[str, ...] = ("anthropic_helpful", "anthropic_hhh", "shp", "summarize")
PRIOR_SETS_SECTION = "Prior Sets"
#: Weight of the prior-sets section relative to each of the four core sections (2 : 1).
REWARDBENCH_PRIOR_SETS_WEIGHT = 0.5

#: Subset weights for ``section_scores(weighting="rewardbench")``: example counts, and 1 for each
#: prior set (their section is a plain mean).
REWARDBENCH_WEIGHTS: Mapping[str, float] = {
    **{k: float(v) for k, v in REWARDBENCH_EXAMPLE_COUNTS.items()},
    **{k: 1.0 for k in REWARDBENCH_PRIOR_SETS},
}
