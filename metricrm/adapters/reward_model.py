"""Sequence-classification reward models (the RewardBench kind) behind the Scorer interface.

The prompt and the response become chat messages and go through the tokenizer's chat template
when it has one (plain-text turns otherwise; see ``chat_format``). The classifier's head output
is the reward; a multi-output head exposes every output in ``details`` and the score is one
chosen output or a weighted sum of them. Items are grouped by a token budget (see
``core.token_batching``), padded on the right, and scored in float32 by default, so scores do
not depend on batch size. Inputs longer than ``max_length`` are truncated, counted in
``details["truncated"]`` and reported in a warning, or refused when ``truncation=False``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.token_batching import (
    DEFAULT_MAX_TOKENS_PER_BATCH,
    pad_right,
    run_in_batches,
    select_device,
)
from ..core.types import BaseScorer, ScoreOutput
from ..core.validation import check_choice
from .chat_format import describe_mode, flat_prompt, render_conversation, resolve_mode
from .embedding import EmbeddingScorer
from .hf_common import ensure_pad_token, load_or_wrap, resolve_max_length, warn_truncated
from .model_location import MODEL_HINT
from .model_settings import SCORE_NEUTRAL, ModelSettings, expose_model_settings

ACTIVATIONS = ("none", "sigmoid", "softmax")
_GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


def output_names(config: Any, n: int) -> list[str]:
    """Detail names of the head outputs: ``logit_<label>`` from ``id2label`` when the labels
    are meaningful, else ``logit_0`` ... ``logit_<n-1>``."""
    id2label = getattr(config, "id2label", None) or {}
    labels = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(n)]
    if all(_GENERIC_LABEL.match(label) for label in labels) or len(set(labels)) != n:
        return [f"logit_{i}" for i in range(n)]
    return [f"logit_{label}" for label in labels]


def _tokenize(
    tokenizer: Any, args: list[tuple], keys: tuple[str, ...], **kwargs: Any
) -> list[dict]:
    """Tokenize single texts or text pairs in one call where possible; one dict per item."""
    if all(len(a) == 1 for a in args):
        batches = [(args, tokenizer([a[0] for a in args], **kwargs))]
    elif all(len(a) == 2 for a in args):
        batches = [(args, tokenizer([a[0] for a in args], [a[1] for a in args], **kwargs))]
    else:
        batches = [([a], tokenizer(*[[x] for x in a], **kwargs)) for a in args]
    out = []
    for group, enc in batches:
        for j in range(len(group)):
            out.append({k: list(enc[k][j]) for k in keys if k in enc})
    return out


@expose_model_settings(max_tokens_per_batch=DEFAULT_MAX_TOKENS_PER_BATCH)
class RewardModel(BaseScorer, EmbeddingScorer):
    """Reward from a sequence-classification model (``AutoModelForSequenceClassification``).

    ``model`` is a local folder, a Hugging Face hub id, an offline alias (``minilm``,
    ``smollm2-135m-instruct``), or an already loaded model (then pass its ``tokenizer``). A
    checkpoint without the classification head (a plain encoder) is refused unless
    ``allow_untrained_head=True``; the random head is then marked in the signature and in
    ``details["untrained_head"]``. The loading, formatting, truncation and batching settings
    are those of :class:`~metricrm.adapters.model_settings.ModelSettings`. Everything that
    changes a score is in the signature: the model's identity (a digest of its weights),
    revision, dtype, max_length, truncation and its side, the output selection and activation,
    the resolved template mode (``chat``, ``pair`` or the plain format used as fallback), the
    pad token and whether remote code may run.
    """

    name = "reward_model"
    requires_model = True
    setting_hints = {"model": MODEL_HINT}
    keep_prompt_messages = True
    uses_inputs = frozenset({"prompts"})
    accepts_empty_responses = True  # an empty reply is a reply the model can score
    preferred_chunk_size = 64
    backends = ("torch", "transformers")
    score_neutral = SCORE_NEUTRAL
    embedding_kind = "pooled_final_hidden"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        output: int | str | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        activation: str = "none",
        **settings: Any,
    ) -> None:
        who = self.name
        check_choice(who, "activation", activation, ACTIVATIONS)
        opts = ModelSettings.build(who, settings, **self.model_defaults)
        self.options = opts
        self.plain = opts.plain
        loaded = load_or_wrap(who, "AutoModelForSequenceClassification", model, tokenizer, opts)
        self.model, self.tokenizer = loaded.model, loaded.tokenizer
        self.model_name, self.dtype = loaded.identity, loaded.dtype
        self.untrained = loaded.untrained
        model, tokenizer = self.model, self.tokenizer
        self.revision = opts.revision
        self.device = select_device(opts.device)
        self.pad_id, self.pad_how = ensure_pad_token(who, tokenizer, model)
        self.max_length = resolve_max_length(who, opts.max_length, tokenizer, model)
        self.truncation, self.truncation_side = opts.truncation, opts.truncation_side
        self.mode = resolve_mode(who, tokenizer, opts.template)
        self.activation = activation
        self.num_outputs = int(model.config.num_labels)
        self.outputs = output_names(model.config, self.num_outputs)
        self.output, self.weights = self._check_selection(output, weights)
        self.max_tokens_per_batch, self.max_batch_size = (
            opts.max_tokens_per_batch,
            opts.max_batch_size,
        )

    @classmethod
    def from_pretrained(cls, id_or_path: str | os.PathLike, **settings: Any) -> RewardModel:
        """Load a reward model from a local folder or hub id; ``settings`` as in the constructor."""
        return cls(id_or_path, **settings)

    # -- settings -----------------------------------------------------------------------------

    def _check_selection(self, output: Any, weights: Any) -> tuple[int | None, np.ndarray | None]:
        who, n, names = self.name, self.num_outputs, self.outputs
        listing = ", ".join(f"{i}={name}" for i, name in enumerate(names))
        if output is not None and weights is not None:
            raise ScorerConfigError(f"{who}: pass either `output` or `weights`, not both")
        if weights is not None:
            if isinstance(weights, Mapping):
                keys = {name.removeprefix("logit_"): i for i, name in enumerate(names)}
                unknown = [k for k in weights if str(k) not in keys]
                if unknown:
                    raise ScorerConfigError(
                        f"{who}: weights name unknown output(s) {unknown}; outputs are {listing}"
                    )
                vector = np.zeros(n)
                for key, value in weights.items():
                    vector[keys[str(key)]] = float(value)
            else:
                vector = np.asarray(list(weights), dtype=np.float64)
                if vector.shape != (n,):
                    raise ScorerConfigError(
                        f"{who}: expected one weight per head output ({n}: {listing}); "
                        f"got {vector.shape[0]}"
                    )
            if not np.isfinite(vector).all():
                raise ScorerConfigError(
                    f"{who}: weights must be finite numbers (got {vector.tolist()})"
                )
            return None, vector
        if output is None:
            if n == 1:
                return 0, None
            raise ScorerConfigError(
                f"{who}: the model's head has {n} outputs ({listing}); choose the score with "
                "`output=<index or label>` or `weights=[...]`"
            )
        if isinstance(output, str):
            labels = [name.removeprefix("logit_") for name in names]
            if output not in labels:
                raise ScorerConfigError(f"{who}: output {output!r} is not one of {listing}")
            return labels.index(output), None
        if isinstance(output, bool) or not isinstance(output, int) or not 0 <= output < n:
            raise ScorerConfigError(
                f"{who}: output must be an index in 0..{n - 1} or a label ({listing}); "
                f"got {output!r}"
            )
        return output, None

    def settings(self) -> dict[str, Any]:
        if self.weights is not None:
            selection = "weights:" + ",".join(f"{w:g}" for w in self.weights)
        else:
            selection = f"output:{self.outputs[self.output]}"
        return {
            "model": self.model_name,
            "revision": self.revision or "default",
            "dtype": self.dtype,
            "max_length": self.max_length,
            "truncation": f"{self.truncation_side}" if self.truncation else "off",
            "select": selection,
            "activation": self.activation,
            "template": describe_mode(self.mode, self.plain),
            "pad": self.pad_how,
            "remote_code": self.options.trust_remote_code,
        }

    # -- encoding -----------------------------------------------------------------------------

    def encode(
        self, responses: Sequence[str], prompts: Sequence[Any] | None
    ) -> tuple[list[dict], list[bool]]:
        """Token ids (and token type ids) per item, truncated as configured; truncation flags."""
        tok = self.tokenizer
        prompts = [None] * len(responses) if prompts is None else prompts
        special = self.mode != "chat"  # a chat template writes its own special tokens
        if self.mode == "pair":
            firsts = [flat_prompt(p) for p in prompts]
            args = [(f, r) if f else (r,) for f, r in zip(firsts, responses)]
        else:
            args = [
                (render_conversation(tok, self.mode, p, r, self.plain),)
                for p, r in zip(prompts, responses)
            ]
        keys = ("input_ids", "token_type_ids")
        encoded = _tokenize(
            tok, args, keys, add_special_tokens=special, truncation=False, verbose=False
        )
        truncated = [len(e["input_ids"]) > self.max_length for e in encoded]
        long_items = [i for i, t in enumerate(truncated) if t]
        if long_items and not self.truncation:
            i = long_items[0]
            raise ScorerInputError(
                f"{self.name}: item {i} is {len(encoded[i]['input_ids'])} tokens long, more than "
                f"max_length={self.max_length}, and truncation is off"
                + (
                    f" ({len(long_items) - 1} more items are too long)"
                    if len(long_items) > 1
                    else ""
                )
                + "; shorten it or pass truncation=True"
            )
        if long_items:
            old = tok.truncation_side
            tok.truncation_side = self.truncation_side
            try:
                cut = _tokenize(
                    tok,
                    [args[i] for i in long_items],
                    keys,
                    add_special_tokens=special,
                    truncation=True,
                    max_length=self.max_length,
                )
            finally:
                tok.truncation_side = old
            for i, enc in zip(long_items, cut):
                encoded[i] = enc
        return encoded, truncated

    def batch_inputs(self, items: list[dict]) -> dict[str, Any]:
        """Model inputs for encoded items: ids and attention mask padded on the right (and token
        type ids where the tokenizer gives them), on the model's device."""
        import torch

        ids, mask = pad_right([it["input_ids"] for it in items], self.pad_id)
        inputs = {
            "input_ids": torch.tensor(ids, device=self.device),
            "attention_mask": torch.tensor(mask, device=self.device),
        }
        if "token_type_ids" in items[0]:
            types, _ = pad_right([it["token_type_ids"] for it in items], 0)
            inputs["token_type_ids"] = torch.tensor(types, device=self.device)
        return inputs

    def _forward(self, items: list[dict]) -> list[np.ndarray]:
        import torch

        inputs = self.batch_inputs(items)
        captured: list[Any] = []
        handle = None
        if self.wants_embeddings:
            head = self._head_module()
            handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            with torch.inference_mode():
                logits = self.model(**inputs).logits
        finally:
            if handle is not None:
                handle.remove()
        logits = logits.float().cpu().numpy().reshape(len(items), -1)
        if not captured:
            return list(logits)
        pooled = self._pool(captured[0], inputs["attention_mask"])
        return [np.concatenate([row, state]) for row, state in zip(logits, pooled)]

    def _head_module(self) -> Any:
        for attribute in ("score", "classifier"):
            head = getattr(self.model, attribute, None)
            if head is not None:
                return head
        raise ScorerConfigError(
            f"{self.name}: cannot find the classification head of {type(self.model).__name__} "
            "(no `score` or `classifier` module), so its pooled state is not available"
        )

    def _pool(self, states: Any, mask: Any) -> np.ndarray:
        """The state the head reads per item: as given when 2-D (BERT's pooled output), else
        the last real token for a ``score`` head (decoders pool the last token) or the first
        token for a ``classifier`` head (RoBERTa-style heads read <s>)."""
        states = states.float()
        if states.ndim == 2:
            return states.cpu().numpy().astype(np.float64)
        if getattr(self.model, "score", None) is not None:
            last = mask.sum(dim=1) - 1
            picked = states[range(states.shape[0]), last]
        else:
            picked = states[:, 0]
        return picked.cpu().numpy().astype(np.float64)

    def head_outputs(
        self, responses: Sequence[str], prompts: Sequence[Any] | None
    ) -> tuple[np.ndarray, list[bool], list[int]]:
        """Raw head outputs ``(n, num_outputs)``, truncation flags and token counts, in input
        order."""
        encoded, truncated = self.encode(responses, prompts)
        lengths = [len(e["input_ids"]) for e in encoded]
        rows = run_in_batches(
            lengths,
            lambda batch: self._forward([encoded[i] for i in batch]),
            self.max_tokens_per_batch,
            max_batch_size=self.max_batch_size,
        )
        logits = np.stack(rows).astype(np.float64)
        if self.wants_embeddings:
            logits, pooled = logits[:, : self.num_outputs], logits[:, self.num_outputs :]
            self._emit_embeddings(pooled)
        if logits.shape[1] != self.num_outputs:
            raise ScorerConfigError(
                f"{self.name}: the model returned {logits.shape[1]} outputs per item but its "
                f"config says num_labels={self.num_outputs}"
            )
        return logits, truncated, lengths

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        logits, truncated, lengths = self.head_outputs(responses, prompts)
        values = logits
        if self.activation == "sigmoid":
            values = 1.0 / (1.0 + np.exp(-logits))
        elif self.activation == "softmax":
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            values = shifted / shifted.sum(axis=1, keepdims=True)
        scores = values @ self.weights if self.weights is not None else values[:, self.output]
        warn_truncated(
            self.name,
            [i for i, t in enumerate(truncated) if t],
            len(responses),
            self.max_length,
            self.truncation_side,
        )
        details: dict[str, Any] = {name: logits[:, j] for j, name in enumerate(self.outputs)}
        details["truncated"] = np.asarray(truncated, dtype=bool)
        details["n_tokens"] = np.asarray(lengths, dtype=np.int64)
        if self.untrained:
            details["untrained_head"] = np.ones(len(responses), dtype=bool)
        return ScoreOutput(scores, details)
