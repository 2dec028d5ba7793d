"""Scorers on any causal language model (``AutoModelForCausalLM``): log-probability, perplexity,
a Yes/No judge, a pairwise A/B judge, and the DPO implicit reward.

- :mod:`.engine`: loading, response-token boundaries, truncation, token-budget batching.
- :mod:`.scorers`: :class:`LMLogProb`, :class:`LMPerplexity`, :class:`DPOReward`.
- :mod:`.judges`: :class:`LMJudge` (a Scorer) and :class:`PairwiseJudge`.
- :mod:`.icl_judge`: :class:`InContextJudge`, the judge with labelled examples in the prompt.
- :mod:`.vote_judge`: :class:`VotingJudge`, the judge voting over question wordings and samples.
- :mod:`.fewshot`: labelled judging examples, shared with the activation reward model.
"""

from .engine import DEFAULT_LM_TOKENS_PER_BATCH, Encoded, LMEngine, LoadedLM, load_causal_lm
from .icl_judge import InContextJudge
from .judges import DEFAULT_JUDGE_TEMPLATE, DEFAULT_PAIRWISE_TEMPLATE, LMJudge, PairwiseJudge
from .scorers import DPOReward, LMLogProb, LMPerplexity
from .vote_judge import DEFAULT_VOTE_TEMPLATES, VotingJudge

__all__ = [
    "DEFAULT_JUDGE_TEMPLATE",
    "DEFAULT_LM_TOKENS_PER_BATCH",
    "DEFAULT_PAIRWISE_TEMPLATE",
    "DEFAULT_VOTE_TEMPLATES",
    "DPOReward",
    "Encoded",
    "InContextJudge",
    "LMEngine",
    "LMJudge",
    "LMLogProb",
    "LMPerplexity",
    "LoadedLM",
    "PairwiseJudge",
    "VotingJudge",
    "load_causal_lm",
]
