"""Causal-LM scorers on the response tokens: log-probability, perplexity and the DPO implicit
reward. They share one loader and engine (:mod:`.engine`); the judges are in :mod:`.judges`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError
from ...core.token_batching import check_budget
from ...core.types import BaseScorer, ScoreOutput
from ...core.validation import check_choice, check_flag, check_number
from ..chat_format import describe_mode, render_prefix
from ..hf_common import resolve_max_length, warn_truncated
from ..model_location import MODEL_HINT, same_location
from ..model_settings import SCORE_NEUTRAL, ModelSettings, expose_model_settings
from .engine import (
    DEFAULT_LM_TOKENS_PER_BATCH,
    REDUCTIONS,
    Encoded,
    LMEngine,
    LoadedLM,
    build_lm_engine,
    load_causal_lm,
)
from .quantize import QUANTIZATIONS

#: settings of every causal-LM scorer that cannot change a score: prefix sharing agrees with
#: the plain path to float tolerance (like a batch size), see :mod:`.prefix`
LM_SCORE_NEUTRAL = SCORE_NEUTRAL | {"share_prefix"}


def lm_settings(lm: LoadedLM, engine: LMEngine, options: ModelSettings) -> dict[str, Any]:
    """The signature settings every causal-LM scorer shares: the model's identity, how it was
    loaded (``quantize`` only when on, so that float signatures stay as they were), and how
    text is formatted and truncated."""
    settings = {
        "model": lm.label,
        "revision": options.revision or "default",
        "dtype": lm.dtype,
        "max_length": engine.max_length,
        "truncation": engine.truncation_side if engine.truncation else "off",
        "template": describe_mode(engine.mode, engine.plain),
        "remote_code": options.trust_remote_code,
    }
    if lm.quantize != "none":
        settings["quantize"] = f"{lm.quantize}-per-token"
    return settings


def check_lm_options(who: str, share_prefix: Any, quantize: Any) -> tuple[bool, str]:
    """Checked ``share_prefix`` and ``quantize`` settings."""
    check_flag(who, "share_prefix", share_prefix)
    check_choice(who, "quantize", quantize, QUANTIZATIONS)
    return share_prefix, quantize


class _LMScorer(BaseScorer):
    """Shared constructor, signature and encoding for causal-LM scorers: the model and its
    :class:`~metricrm.adapters.model_settings.ModelSettings`."""

    requires_model = True
    keep_prompt_messages = True
    backends = ("torch", "transformers")
    score_neutral = LM_SCORE_NEUTRAL
    uses_inputs = frozenset({"prompts"})
    #: a few batches per chunk: progress moves and an interrupt keeps nearly all finished work
    preferred_chunk_size = 16
    #: the runners put items with the same prompt in the same chunk (shared prefixes)
    groups_by_prompt = True
    model_defaults: dict[str, Any] = {"max_tokens_per_batch": DEFAULT_LM_TOKENS_PER_BATCH}
    setting_hints = {"model": MODEL_HINT}

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        share_prefix: bool = True,
        quantize: str = "none",
        **settings: Any,
    ) -> None:
        share_prefix, quantize = check_lm_options(self.name, share_prefix, quantize)
        self.options = ModelSettings.build(self.name, settings, **self.model_defaults)
        self.revision = self.options.revision
        self.lm, self.engine = build_lm_engine(
            self.name, model, tokenizer, self.options, share_prefix=share_prefix, quantize=quantize
        )

    @property
    def share_prefix(self) -> bool:
        return self.engine.share_prefix

    @share_prefix.setter
    def share_prefix(self, value: bool) -> None:
        check_flag(self.name, "share_prefix", value)
        for engine in self._engines():
            engine.share_prefix = value

    def settings(self) -> dict[str, Any]:
        return lm_settings(self.lm, self.engine, self.options)

    @property
    def max_tokens_per_batch(self) -> int:
        return self.engine.max_tokens_per_batch

    @max_tokens_per_batch.setter
    def max_tokens_per_batch(self, value: int) -> None:
        check_budget(self.name, value)
        for engine in self._engines():
            engine.max_tokens_per_batch = value

    @property
    def max_batch_size(self) -> int | None:
        return self.engine.max_batch_size

    @max_batch_size.setter
    def max_batch_size(self, value: int | None) -> None:
        check_budget(self.name, self.engine.max_tokens_per_batch, value)
        for engine in self._engines():
            engine.max_batch_size = value

    def _engines(self) -> list[LMEngine]:
        return [self.engine]

    def _report(self, items: Sequence[Encoded]) -> dict[str, np.ndarray]:
        flags = [i for i, it in enumerate(items) if it.truncated]
        e = self.engine
        warn_truncated(self.name, flags, len(items), e.max_length, e.truncation_side)
        details = {
            "truncated": np.array([it.truncated for it in items], dtype=bool),
            "boundary": np.array([it.boundary for it in items], dtype=np.int64),
        }
        if any(engine.lm.untrained for engine in self._engines()):
            details["untrained_head"] = np.ones(len(items), dtype=bool)
        return details


def encode_responses(
    engine: LMEngine, responses: Sequence[str], prompts: Sequence[Any] | None, eos: bool
) -> list[Encoded]:
    """Each response after its rendered prompt, fitted to ``max_length``; responses to the same
    prompt share its rendering as their ``share`` key."""
    e = engine
    prompts = [None] * len(responses) if prompts is None else prompts
    rendered: dict[str, str] = {}
    items = []
    for i, (p, r) in enumerate(zip(prompts, responses)):
        key = repr(p)
        if key not in rendered:
            rendered[key] = render_prefix(e.lm.tokenizer, e.mode, p, e.plain)
        prefix = rendered[key]
        item = e.continuation(prefix, r, append_eos=eos)
        item.share = prefix
        items.append(e.fit(item, i))
    return items


class _ResponseLogProb(_LMScorer):
    """Base of the scorers built on the response tokens' log-probabilities."""

    def __init__(
        self, model: Any, tokenizer: Any = None, *, include_eos: bool = False, **settings: Any
    ) -> None:
        self.include_eos = check_flag(self.name, "include_eos", include_eos)
        super().__init__(model, tokenizer, **settings)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "include_eos": self.include_eos}

    def encode(self, responses: Sequence[str], prompts: Sequence[Any] | None) -> list[Encoded]:
        return encode_responses(self.engine, responses, prompts, self.include_eos)

    def response_logprobs(
        self, responses, prompts
    ) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        items = self.encode(responses, prompts)
        logps = self.engine.token_logprobs(items)
        details = self._report(items)
        details["n_tokens"] = np.array([len(x) for x in logps], dtype=np.int64)
        details["sum_logprob"] = np.array([x.sum() for x in logps])
        return logps, details


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class LMLogProb(_ResponseLogProb):
    """Log-probability of the response tokens given the prompt (``reduction`` mean or sum)."""

    name = "lm_logprob"

    def __init__(
        self, model: Any, tokenizer: Any = None, *, reduction: str = "mean", **settings: Any
    ) -> None:
        check_choice(self.name, "reduction", reduction, REDUCTIONS)
        self.reduction = reduction
        super().__init__(model, tokenizer, **settings)

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "reduction": self.reduction}

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        _, details = self.response_logprobs(responses, prompts)
        total = details["sum_logprob"]
        scores = total / details["n_tokens"] if self.reduction == "mean" else total
        return ScoreOutput(scores, details)


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class LMPerplexity(_ResponseLogProb):
    """Perplexity of the response given the prompt: ``exp(-mean token log-probability)``."""

    name = "lm_perplexity"
    higher_is_better = False

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        _, details = self.response_logprobs(responses, prompts)
        return ScoreOutput(np.exp(-details["sum_logprob"] / details["n_tokens"]), details)


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class DPOReward(_LMScorer):
    """DPO implicit reward: ``beta * (log p_policy(response|prompt) - log p_ref(response|prompt))``,
    log-probabilities summed over the response tokens.

    ``policy`` and ``reference`` are folders, hub ids or loaded models sharing one tokenizer
    (the policy's; the reference's vocabulary must be identical). The same location for both
    loads one model, and the reward is then exactly 0.
    """

    name = "dpo_reward"
    setting_hints = {"policy": MODEL_HINT, "reference": MODEL_HINT}

    def __init__(
        self,
        policy: Any,
        reference: Any,
        tokenizer: Any = None,
        *,
        beta: float = 0.1,
        reference_revision: str | None = None,
        include_eos: bool = False,
        reference_tokenizer: Any = None,
        **settings: Any,
    ) -> None:
        self.beta = check_number(self.name, "beta", beta, above=0)
        self.include_eos = check_flag(self.name, "include_eos", include_eos)
        super().__init__(policy, tokenizer, **settings)
        self.reference_revision = reference_revision
        same = reference is policy or (
            isinstance(reference, (str, os.PathLike))
            and isinstance(policy, (str, os.PathLike))
            and same_location(reference, policy)
            and reference_revision == self.options.revision
        )
        if same:
            self.ref = self.lm
        else:
            self.ref = load_causal_lm(
                self.name,
                reference,
                reference_tokenizer,
                replace(self.options, revision=reference_revision),
                quantize=self.lm.quantize,
            )
            if self.ref.tokenizer.get_vocab() != self.lm.tokenizer.get_vocab():
                raise ScorerConfigError(
                    f"{self.name}: the policy and reference tokenizers differ; the DPO reward "
                    "needs both models to share one vocabulary"
                )
        limit = resolve_max_length(self.name, None, self.ref.tokenizer, self.ref.model)
        self.engine.max_length = min(self.engine.max_length, limit)
        self.ref_engine = LMEngine(
            self.name,
            self.ref,
            mode=self.engine.mode,
            plain=self.engine.plain,
            max_length=self.engine.max_length,
            truncation=self.engine.truncation,
            truncation_side=self.engine.truncation_side,
            max_tokens_per_batch=self.engine.max_tokens_per_batch,
            max_batch_size=self.engine.max_batch_size,
            share_prefix=self.engine.share_prefix,
        )

    def _engines(self) -> list[LMEngine]:
        return [self.engine, self.ref_engine]

    def settings(self) -> dict[str, Any]:
        base = super().settings()
        policy = base.pop("model")
        return {
            **base,
            "policy": policy,
            "reference": self.ref.label,
            "reference_revision": self.reference_revision or "default",
            "reference_dtype": self.ref.dtype,
            "beta": self.beta,
            "include_eos": self.include_eos,
        }

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        e = self.engine
        items = encode_responses(e, responses, prompts, self.include_eos)
        policy = np.array([x.sum() for x in e.token_logprobs(items)])
        if self.ref is self.lm:
            reference = policy.copy()
        else:
            reference = np.array([x.sum() for x in self.ref_engine.token_logprobs(items)])
        details = self._report(items)
        details.update(
            logp_policy=policy,
            logp_reference=reference,
            n_tokens=np.array([len(it.ids) - it.start for it in items], dtype=np.int64),
        )
        return ScoreOutput(self.beta * (policy - reference), details)
