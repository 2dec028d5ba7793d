"""Fitting an activation reward model from a few labelled examples: mean activations and head
selection (the scorer, its patching and its saved format are in
:mod:`metricrm.adapters.activation_rm`).

1. **Examples.** Preference pairs (chosen -> "Yes", rejected -> "No"; human ties left out) or
   pointwise items with a 0/1 human label, see :mod:`metricrm.adapters.causal_lm.fewshot`.
2. **Mean activations** (as in the paper, after multimodal task vectors): for each of up to
   ``max_prompts`` examples (a seeded choice), an in-context judging prompt is built from
   ``shots`` *other* examples - half answered "Yes", half "No", from other pairs, in seeded
   order - written as earlier user/assistant turns with their right answers, followed by the
   example's own question. The output of every attention head at the prompt's last token
   (where the answer is predicted) is recorded, and averaged over the prompts. Prompts longer
   than ``max_length`` lose their earliest tokens (earliest shots first).
3. **Head selection by attribution patching** (our choice; the paper optimises a Bernoulli
   distribution over heads with REINFORCE, which needs hundreds of sampled head sets times
   the examples - days of CPU for a 30-layer model). For each example (up to ``max_items``),
   one forward and one backward pass of the *zero-shot* question give each head's output
   ``z`` at the answer position and the gradient ``g`` of the log-odds of "Yes" with respect
   to it. Patching the head with its mean ``mu`` changes the log-odds by about
   ``g . (mu - z)`` (first order). A head's gain is the mean of that change over the "Yes"
   examples minus its mean over the "No" examples: how much patching it alone separates the
   right answers. The ``n_heads`` heads with the largest positive gains are kept (fewer when
   fewer gains are positive; none leaves the zero-shot judge). ``layers`` restricts the
   candidates. One forward-backward per example scores every head at once, which is what
   makes the fit take minutes rather than days on a CPU; the first-order estimate can be off
   for heads whose patch is large, and the k-curve in ``docs/results.md`` is the check.

Everything is seeded; the same examples, settings and seed give the same heads and means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..adapters.activation_rm import NAME, ActivationRewardModel
from ..adapters.causal_lm.engine import Encoded
from ..adapters.causal_lm.fewshot import (
    JudgedExample,
    dialogue_prefix,
    example_turns,
    examples_digest,
    fill,
    judged_examples,
)
from ..adapters.causal_lm.judges import DEFAULT_JUDGE_TEMPLATE
from ..adapters.model_settings import ModelSettings
from ..core.errors import ScorerConfigError
from ..core.settings import build_settings, expose_settings
from ..core.token_batching import pad_right, run_in_batches
from ..core.validation import check_integer


@dataclass(frozen=True)
class ActivationFitSettings:
    """How the heads and mean activations are chosen (module docstring)."""

    n_heads: int = 16
    layers: Any = None
    shots: int = 4
    max_prompts: int | None = 32
    max_items: int | None = None
    seed: int = 0
    label_key: str = "label"

    def check(self, who: str = NAME) -> ActivationFitSettings:
        check_integer(who, "n_heads", self.n_heads, minimum=1)
        check_integer(who, "shots", self.shots, minimum=0)
        if self.max_prompts is not None:
            check_integer(who, "max_prompts", self.max_prompts, minimum=1)
        if self.max_items is not None:
            check_integer(who, "max_items", self.max_items, minimum=2)
        check_integer(who, "seed", self.seed, minimum=0)
        if self.layers is not None and (
            isinstance(self.layers, (str, bytes)) or not hasattr(self.layers, "__iter__")
        ):
            raise ScorerConfigError(
                f"{who}: `layers` must be None (all layers) or a list of layer indices "
                f"(got {self.layers!r})"
            )
        return self


@dataclass
class ActivationFit:
    """What the fit saw: per-head gains ``(layers, heads)`` (NaN outside ``layers``), the
    zero-shot log-odds of the examples used for selection and their labels."""

    gains: np.ndarray
    zero_shot_log_odds: np.ndarray
    positive: np.ndarray
    n_prompts: int


def _layers(who: str, layers: Any, n_layers: int) -> list[int]:
    if layers is None:
        return list(range(n_layers))
    out = []
    for value in layers:
        out.append(check_integer(who, "layers", value, minimum=0, maximum=n_layers - 1))
    if not out or len(set(out)) != len(out):
        raise ScorerConfigError(
            f"{who}: `layers` must list distinct layer indices (got {list(layers)!r})"
        )
    return sorted(out)


def _describe_layers(layers: list[int], n_layers: int) -> str:
    if layers == list(range(n_layers)):
        return "all"
    if layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}-{layers[-1]}"
    return "+".join(str(v) for v in layers)


def _pick(rng: np.random.Generator, pool: list[int], n: int) -> list[int]:
    """Positions (sorted) of ``n`` members of ``pool`` drawn without replacement."""
    if n >= len(pool):
        return list(range(len(pool)))
    return sorted(int(j) for j in rng.choice(len(pool), size=n, replace=False))


def _shots(
    rng: np.random.Generator, examples: list[JudgedExample], query: int, shots: int
) -> list[JudgedExample]:
    """``shots`` examples from other pairs than ``query``'s, half Yes and half No where
    possible, in seeded order."""
    others = [i for i, ex in enumerate(examples) if ex.source != examples[query].source]
    pos = [i for i in others if examples[i].positive]
    neg = [i for i in others if not examples[i].positive]
    n_pos = min(len(pos), (shots + 1) // 2)
    n_neg = min(len(neg), shots - n_pos)
    n_pos = min(len(pos), shots - n_neg)
    chosen = [pos[j] for j in _pick(rng, pos, n_pos)] + [neg[j] for j in _pick(rng, neg, n_neg)]
    order = rng.permutation(len(chosen))
    return [examples[chosen[j]] for j in order]


def _prompt_items(
    scorer: ActivationRewardModel, examples: list[JudgedExample], which: list[int], opts: Any
) -> list[Encoded]:
    """In-context judging prompts (shots with answers, then the example's question)."""
    e = scorer.engine
    rng = np.random.default_rng([opts.seed, 1])
    answers = (scorer.yes_words[0], scorer.no_words[0])
    items = []
    for i in which:
        turns = example_turns(scorer.judge_template, _shots(rng, examples, i, opts.shots), answers)
        question = fill(scorer.judge_template, examples[i].prompt, examples[i].response)
        text = dialogue_prefix(e.lm.tokenizer, e.mode, e.plain, turns, question)
        items.append(e.fit(Encoded(e.lead + e._ids(text), 0), len(items)))
    return items


def mean_activations(
    scorer: ActivationRewardModel, items: Sequence[Encoded], layers: list[int]
) -> np.ndarray:
    """Mean head outputs ``(len(layers), heads, head_dim)`` at the last token of ``items``."""
    access, e = scorer.heads_access, scorer.engine
    total = np.zeros((len(layers), access.n_heads, access.head_dim), dtype=np.float64)
    e.on_batch = access.set_positions
    try:
        with access.captured(layers) as store:
            e.next_token_outputs(items, scorer.yes_ids + scorer.no_ids)
    finally:
        e.on_batch = None
    count = 0
    for record in store:
        for j, layer in enumerate(layers):
            total[j] += record[layer].double().sum(dim=0).cpu().numpy()
        count += next(iter(record.values())).shape[0]
    return total / count


def head_effects(
    scorer: ActivationRewardModel, items: Sequence[Encoded], layers: list[int], means: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First-order change of each item's log-odds when each head is patched with its mean:
    ``(n, len(layers), heads)``, and the unpatched log-odds ``(n,)``."""
    import torch

    access, e, model = scorer.heads_access, scorer.engine, scorer.lm.model
    yes = torch.tensor(scorer.yes_ids)
    no = torch.tensor(scorer.no_ids)
    mu = torch.as_tensor(means, dtype=torch.float32)
    frozen = [p for p in model.parameters() if p.requires_grad]

    def run(batch: list[int]) -> list[tuple[np.ndarray, float]]:
        seqs = [items[i].ids for i in batch]
        ids, mask = pad_right(seqs, scorer.lm.pad_id)
        last = [len(s) - 1 for s in seqs]
        access.set_positions(last)
        device = e.device
        kwargs: dict[str, Any] = {
            "input_ids": torch.tensor(ids, device=device),
            "attention_mask": torch.tensor(mask, device=device),
            "use_cache": False,
        }
        keep = sorted(set(last))
        columns = last
        if e._keep:  # only the last positions go through the output layer
            kwargs["logits_to_keep"] = torch.tensor(keep, device=device)
            columns = [keep.index(p) for p in last]
        with access.probed(layers) as deltas:
            out = model(**kwargs)
            rows = out.logits[torch.arange(len(seqs)), torch.tensor(columns)].float()
            logp = torch.log_softmax(rows, dim=-1)
            odds = torch.logsumexp(logp[:, yes.to(device)], dim=1) - torch.logsumexp(
                logp[:, no.to(device)], dim=1
            )
            odds.sum().backward()
        results = []
        for b in range(len(seqs)):
            effect = np.empty((len(layers), access.n_heads))
            for j, layer in enumerate(layers):
                g = deltas[layer].grad[b].reshape(access.n_heads, -1).float().cpu()
                z = deltas[("value", layer)][b].reshape(access.n_heads, -1).float().cpu()
                effect[j] = (g * (mu[j] - z)).sum(dim=1).double().numpy()
            results.append((effect, float(odds[b].detach())))
        return results

    for p in frozen:
        p.requires_grad_(False)
    try:
        with torch.enable_grad():
            results = run_in_batches(
                [len(it.ids) for it in items],
                run,
                e.max_tokens_per_batch,
                max_batch_size=e.max_batch_size,
            )
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return np.stack([r[0] for r in results]), np.array([r[1] for r in results])


def head_gains(effects: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Per head: mean effect over "Yes" examples minus mean effect over "No" examples."""
    positive = np.asarray(positive, dtype=bool)
    return effects[positive].mean(axis=0) - effects[~positive].mean(axis=0)


def select_heads(gains: np.ndarray, layers: list[int], n_heads: int) -> np.ndarray:
    """The ``n_heads`` (layer, head) with the largest positive gains, best first (ties: lower
    layer, then lower head)."""
    flat = [
        (-float(gains[j, h]), layers[j], h)
        for j in range(gains.shape[0])
        for h in range(gains.shape[1])
        if gains[j, h] > 0
    ]
    flat.sort()
    return np.array([(layer, h) for _, layer, h in flat[:n_heads]], dtype=np.int64).reshape(-1, 2)


@expose_settings(ModelSettings)
@expose_settings(ActivationFitSettings)
def fit_activation_rm(
    examples: Sequence[Any],
    *,
    model: Any,
    tokenizer: Any = None,
    judge_template: str = DEFAULT_JUDGE_TEMPLATE,
    yes_words: Sequence[str] = ("Yes",),
    no_words: Sequence[str] = ("No",),
    **settings: Any,
) -> ActivationRewardModel:
    """Fit an activation reward model on a few labelled ``examples`` (module docstring).

    ``examples`` are preference pairs or pointwise items with a 0/1 ``human[label_key]``.
    ``model`` is a causal LM (folder, hub id, offline alias such as
    ``"smollm2-135m-instruct"``, or a loaded model with its ``tokenizer``). ``settings`` are the
    fields of :class:`ActivationFitSettings` (``n_heads``, ``layers``, ``shots``,
    ``max_prompts``, ``max_items``, ``seed``, ``label_key``) and of
    :class:`~metricrm.adapters.model_settings.ModelSettings` (``max_length``, ``template``, ...).
    The result's ``fit_report`` (an :class:`ActivationFit`) holds every head's gain.
    """
    fit_names = set(ActivationFitSettings.__dataclass_fields__)
    opts: ActivationFitSettings = build_settings(
        ActivationFitSettings, NAME, {k: v for k, v in settings.items() if k in fit_names}
    )
    model_settings = {k: v for k, v in settings.items() if k not in fit_names}
    judged = judged_examples(NAME, examples, label_key=opts.label_key)
    labels = np.array([ex.positive for ex in judged])
    if labels.all() or not labels.any():
        raise ScorerConfigError(
            f"{NAME}: the examples must include both answers (Yes and No) to select heads; "
            f"got {len(judged)} examples, all {'Yes' if labels.all() else 'No'}"
        )
    scorer = ActivationRewardModel(
        model,
        tokenizer,
        judge_template=judge_template,
        yes_words=yes_words,
        no_words=no_words,
        **model_settings,
    )
    access = scorer.heads_access
    layers = _layers(NAME, opts.layers, access.n_layers)
    rng = np.random.default_rng([opts.seed, 0])
    everyone = list(range(len(judged)))
    prompts_for = everyone
    if opts.max_prompts is not None:
        prompts_for = [everyone[j] for j in _pick(rng, everyone, opts.max_prompts)]
    means = mean_activations(scorer, _prompt_items(scorer, judged, prompts_for, opts), layers)
    scored = everyone
    if opts.max_items is not None:
        scored = [everyone[j] for j in _pick(rng, everyone, opts.max_items)]
    positive = labels[scored]
    if positive.all() or not positive.any():
        raise ScorerConfigError(
            f"{NAME}: the {len(scored)} examples drawn for head selection (max_items="
            f"{opts.max_items}) all have the same answer; raise max_items"
        )
    questions = scorer.encode_questions(
        [judged[i].response for i in scored], [judged[i].prompt for i in scored]
    )
    effects, zero_shot = head_effects(scorer, questions, layers, means)
    gains_sel = head_gains(effects, positive)
    heads = select_heads(gains_sel, layers, opts.n_heads)
    row = {layer: j for j, layer in enumerate(layers)}
    chosen_means = np.array(
        [means[row[int(layer)], int(h)] for layer, h in heads], dtype=np.float32
    ).reshape(-1, access.head_dim)
    scorer.fit_settings = {
        "n_heads": opts.n_heads,
        "layers": _describe_layers(layers, access.n_layers),
        "shots": opts.shots,
        "prompts": len(prompts_for),
        "items": len(scored),
        "seed": opts.seed,
        "selection": "attribution",
        "data": examples_digest(judged),
    }
    scorer.set_heads(heads, chosen_means)
    gains = np.full((access.n_layers, access.n_heads), np.nan)
    gains[layers] = gains_sel
    scorer.fit_report = ActivationFit(gains, zero_shot, positive, len(prompts_for))
    return scorer
