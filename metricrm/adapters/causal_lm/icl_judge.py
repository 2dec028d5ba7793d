"""In-context LM judge: the pointwise Yes/No judge with labelled examples in the prompt.

The examples (preference pairs or labelled items, see :mod:`.fewshot`) come first, as earlier
user turns asking the judging question and assistant turns answering "Yes" or "No"
(``yes_words[0]`` / ``no_words[0]``); then the question about the response to score. Examples
are taken in the order given while the rendered examples fit in ``context_tokens`` tokens
(default: half of ``max_length``); how many were used, and a digest of them, are in the
signature.

The examples' text is the same for every item, so the model reads it once: its key/value cache
is kept and each item only runs its own question on top of a copy of it. Items are scored one
at a time (no padding), so scores do not depend on batching. When a chat template does not
render the examples as a text prefix of the whole conversation, every item is run in full.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.errors import ScorerConfigError, ScorerInputError
from ...core.types import ScoreOutput
from ...core.validation import check_integer
from ..chat_format import render_chat
from ..hf_common import warn_truncated
from ..model_settings import expose_model_settings
from .engine import DEFAULT_LM_TOKENS_PER_BATCH, Encoded
from .fewshot import dialogue_prefix, example_turns, examples_digest, fill, judged_examples
from .judges import DEFAULT_JUDGE_TEMPLATE, LMJudge, _label_probs

#: fewest tokens left for the question about the scored response
MIN_QUESTION_TOKENS = 16


@expose_model_settings(max_tokens_per_batch=DEFAULT_LM_TOKENS_PER_BATCH)
class InContextJudge(LMJudge):
    """Yes/No LM judge with labelled judging examples in the prompt (module docstring); the
    score is ``P(Yes) / (P(Yes) + P(No))`` as for ``lm_judge``, with ``log_odds`` in details."""

    name = "lm_icl_judge"
    preferred_chunk_size = 8

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        examples: Sequence[Any],
        context_tokens: int | None = None,
        label_key: str = "label",
        judge_template: str = DEFAULT_JUDGE_TEMPLATE,
        yes_words: Sequence[str] = ("Yes",),
        no_words: Sequence[str] = ("No",),
        **settings: Any,
    ) -> None:
        if context_tokens is not None:
            check_integer(self.name, "context_tokens", context_tokens, minimum=1)
        judged = judged_examples(self.name, examples, label_key=label_key)
        super().__init__(
            model,
            tokenizer,
            judge_template=judge_template,
            yes_words=yes_words,
            no_words=no_words,
            **settings,
        )
        e = self.engine
        self.context_tokens = e.max_length // 2 if context_tokens is None else context_tokens
        self.answers = (self.yes_words[0], self.no_words[0])
        self.used = self._fit_examples(judged)
        turns = example_turns(self.judge_template, self.used, self.answers)
        self.prefix_text = self._render_examples(turns)
        self.prefix_ids = e.lead + e._ids(self.prefix_text)
        if len(self.prefix_ids) + MIN_QUESTION_TOKENS > e.max_length:
            raise ScorerConfigError(
                f"{self.name}: the examples take {len(self.prefix_ids)} tokens, leaving fewer "
                f"than {MIN_QUESTION_TOKENS} of max_length={e.max_length} for the question; "
                "lower context_tokens or raise max_length"
            )
        probe = dialogue_prefix(e.lm.tokenizer, e.mode, e.plain, turns, "x")
        self.cached = probe.startswith(self.prefix_text)
        self.digest = examples_digest(self.used)
        self._cache: Any = None
        params = inspect.signature(self.lm.model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"

    def _render_examples(self, turns: list[dict[str, str]]) -> str:
        e = self.engine
        if not turns:
            return ""
        if e.mode == "chat":
            return render_chat(e.lm.tokenizer, turns, generation_prompt=False)
        return e.plain.render(turns) + e.plain.separator

    def _fit_examples(self, judged: list) -> list:
        """The longest head of ``judged`` whose rendered turns fit in ``context_tokens``."""
        e = self.engine
        lo, hi = 0, len(judged)
        while lo < hi:  # the rendered length grows with the number of examples
            mid = (lo + hi + 1) // 2
            turns = example_turns(self.judge_template, judged[:mid], self.answers)
            if len(e._ids(self._render_examples(turns))) <= self.context_tokens:
                lo = mid
            else:
                hi = mid - 1
        return judged[:lo]

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "examples": f"{len(self.used)}@{self.digest}",
            "context_tokens": self.context_tokens,
        }

    def _question_ids(self, responses: Sequence[str], prompts: Sequence[Any] | None):
        """Per item: the token ids run on top of the examples, and whether they were cut."""
        e = self.engine
        turns = example_turns(self.judge_template, self.used, self.answers)
        room = e.max_length - len(self.prefix_ids)
        prompts = [None] * len(responses) if prompts is None else prompts
        out = []
        for p, r in zip(prompts, responses):
            full = dialogue_prefix(
                e.lm.tokenizer, e.mode, e.plain, turns, fill(self.judge_template, p, r)
            )
            if self.cached:
                ids = e._ids(full[len(self.prefix_text) :])
                cut = len(ids) > room
                if cut and not e.truncation:
                    raise ScorerInputError(
                        f"{self.name}: item {len(out)} needs {len(ids)} tokens after the "
                        f"examples' {len(self.prefix_ids)}, more than max_length="
                        f"{e.max_length}, and truncation is off; shorten it or pass "
                        "truncation=True"
                    )
                if cut:
                    ids = ids[-room:] if e.truncation_side == "left" else ids[:room]
                out.append((ids, cut))
            else:
                item = e.fit(Encoded(e.lead + e._ids(full), 0), len(out))
                out.append((item.ids, item.truncated))
        return out

    def _prefix_cache(self) -> Any:
        import torch

        if self._cache is None:
            model = self.lm.model
            ids = torch.tensor([self.prefix_ids], device=self.engine.device)
            with torch.inference_mode():
                out = model(input_ids=ids, use_cache=True)
            self._cache = getattr(out, "cache", None) or out.past_key_values
        return self._cache

    def _run_one(self, ids: list[int], want_hidden: bool) -> tuple[np.ndarray, Any]:
        import torch

        model, e = self.lm.model, self.engine
        captured: list[Any] = []
        handle = None
        if want_hidden:
            head = model.get_output_embeddings()
            handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            with torch.inference_mode():
                if self.cached and self.prefix_ids:
                    total = len(self.prefix_ids) + len(ids)
                    kwargs = {
                        "input_ids": torch.tensor([ids], device=e.device),
                        "attention_mask": torch.ones((1, total), dtype=torch.long, device=e.device),
                        self._cache_arg: copy.deepcopy(self._prefix_cache()),
                        "use_cache": True,
                    }
                else:
                    full = (self.prefix_ids + ids) if self.cached else ids
                    kwargs = {
                        "input_ids": torch.tensor([full], device=e.device),
                        "use_cache": False,
                    }
                if e._keep:
                    kwargs["logits_to_keep"] = 1
                logits = model(**kwargs).logits[0, -1].float()
        finally:
            if handle is not None:
                handle.remove()
        wanted = torch.tensor(self.yes_ids + self.no_ids, device=logits.device)
        logp = torch.log_softmax(logits, dim=-1)[wanted].double().cpu().numpy()
        state = captured[-1][0, -1].double().cpu().numpy() if captured else None
        return logp, state

    def _score(self, responses, *, references, prompts, sources) -> ScoreOutput:
        if prompts is None and "{prompt}" in self.judge_template:
            self.encode_questions(responses, prompts)  # raises the judge's error
        questions = self._question_ids(responses, prompts)
        want = self.wants_embeddings
        runs = [self._run_one(ids, want) for ids, _ in questions]
        logp = np.stack([r[0] for r in runs])
        if want:
            self._emit_embeddings(np.stack([r[1] for r in runs]))
        k = len(self.yes_ids)
        raw, norm = _label_probs(logp, [list(range(k)), list(range(k, logp.shape[1]))])
        cut = [i for i, (_, c) in enumerate(questions) if c]
        e = self.engine
        warn_truncated(self.name, cut, len(questions), e.max_length, e.truncation_side)
        log_odds = np.logaddexp.reduce(logp[:, :k], axis=1) - np.logaddexp.reduce(
            logp[:, k:], axis=1
        )
        return ScoreOutput(
            norm[:, 0],
            {
                "truncated": np.isin(np.arange(len(questions)), cut),
                "p_yes": raw[:, 0],
                "p_no": raw[:, 1],
                "log_odds": log_odds,
            },
        )
