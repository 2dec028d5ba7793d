"""Scorers on any causal language model (``AutoModelForCausalLM``): log-probability, perplexity,
a Yes/No judge, a pairwise A/B judge, and the DPO implicit reward.

- :mod:`.engine`: loading, response-token boundaries, truncation, token-budget batching.
- :mod:`.scorers`: :class:`LMLogProb`, :class:`LMPerplexity`, :class:`DPOReward`.
- :mod:`.judges`: :class:`LMJudge` (a Scorer) and :class:`PairwiseJudge`.
- :mod:`.icl_judge`: :class:`InContextJudge`, the judge with labelled examples in the prompt.
- :mod:`.fewshot`: labelled judging examples, shared with the activation reward model.
"""

from .engine import DEFAULT_LM_TOKENS_PER_BATCH, Encoded, LMEngine, LoadedLM, load_causal_lm
from .icl_judge import InContextJudge
from .judges import DEFAULT_JUDGE_TEMPLATE, DEFAULT_PAIRWISE_TEMPLATE, LMJudge, PairwiseJudge
from .scorers import DPOReward, LMLogProb, LMPerplexity

__all__ = [
    "DEFAULT_JUDGE_TEMPLATE",
    "DEFAULT_LM_TOKENS_PER_BATCH",
    "DEFAULT_PAIRWISE_TEMPLATE",
    "DPOReward",
    "Encoded",
    "InContextJudge",
    "LMEngine",
    "LMJudge",
    "LMLogProb",
    "LMPerplexity",
    "LoadedLM",
    "PairwiseJudge",
    "load_causal_lm",
]
