"""Bradley-Terry fine-tuning of a small sequence-classification model into a reward model.

``fine_tune_reward_model`` loads ``base_model`` with a one-output classification head (fresh
when the base is a plain encoder or decoder), renders and tokenizes prompt + response exactly
as :class:`~metricrm.adapters.reward_model.RewardModel` does when scoring, and minimises the
Bradley-Terry loss ``-log sigmoid(r_chosen - r_rejected)`` (a human tie has target 0.5) with
AdamW in a plain torch loop. After every epoch it measures loss and pairwise accuracy on the
validation pairs; the best epoch (``monitor="loss"`` or ``"accuracy"``) is written to
``output_dir`` with ``save_pretrained`` (safetensors) together with the tokenizer, so
``get_scorer("reward_model", model=output_dir)`` scores with it. Training stops after
``patience`` epochs without improvement. Initialisation, pair order and dropout are seeded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..adapters.hf_common import load_model
from ..adapters.model_location import model_identity
from ..adapters.model_settings import dtype_name
from ..adapters.reward_model import RewardModel
from ..core.errors import ScorerConfigError
from ..core.records import PreferencePair, TrainingHistory, response_text
from ..core.results_io import set_default_permissions_in
from ..core.token_batching import DEFAULT_MAX_TOKENS_PER_BATCH
from ..core.validation import check_choice, check_integer, check_number
from .bt_head import split_validation
from .objectives import EarlyStopping, bt_loss, pair_accuracy
from .pairs import check_pairs, pair_targets, pairs_digest

WHO = "fine_tune_reward_model"
INFO_FILE = "metricrm_training.json"


@dataclass
class FineTuneResult:
    """The saved folder, the training history and the best model, still in memory."""

    output_dir: Path
    history: TrainingHistory
    model: Any
    tokenizer: Any
    step_losses: list[float] = field(default_factory=list)

    def scorer(self, **settings: Any) -> RewardModel:
        """A :class:`RewardModel` on the in-memory model (same template and length as training)."""
        info = json.loads((self.output_dir / INFO_FILE).read_text(encoding="utf-8"))
        defaults = {"max_length": info["max_length"], "template": info["template"]}
        return RewardModel(self.model, self.tokenizer, **{**defaults, **settings})


def _pairs(value: Any, what: str) -> list[PreferencePair]:
    return check_pairs(WHO, value, what, allow_empty=False)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else response_text(value)


class _PairData:
    """Tokenized chosen and rejected items of some pairs, with their targets."""

    def __init__(self, rm: RewardModel, pairs: list[PreferencePair], ties: str) -> None:
        targets = pair_targets(pairs, ties, who=WHO)
        keep = ~np.isnan(targets)
        self.pairs = [p for p, k in zip(pairs, keep) if k]
        self.excluded = int((~keep).sum())
        self.targets = targets[keep]
        prompts = [p.prompt for p in self.pairs]
        self.chosen = [_text(p.chosen) for p in self.pairs]
        self.rejected = [_text(p.rejected) for p in self.pairs]
        self.prompts = prompts
        items, cut = rm.encode(self.chosen + self.rejected, prompts + prompts)
        n = len(self.pairs)
        self.items_c, self.items_r = items[:n], items[n:]
        self.truncated = int(sum(cut))

    def __len__(self) -> int:
        return len(self.pairs)


def _evaluate(rm: RewardModel, data: _PairData) -> tuple[float, float]:
    """Bradley-Terry loss and pairwise accuracy of the model (eval mode) on ``data``."""
    import torch

    rm.model.eval()
    logits, _, _ = rm.head_outputs(data.chosen + data.rejected, data.prompts + data.prompts)
    n = len(data)
    c, r = logits[:n, rm.output], logits[n:, rm.output]
    loss = float(bt_loss(torch.as_tensor(c), torch.as_tensor(r), torch.as_tensor(data.targets)))
    return loss, pair_accuracy(c, r, data.targets)


def fine_tune_reward_model(
    pairs: Sequence[PreferencePair],
    *,
    base_model: str | os.PathLike,
    output_dir: str | os.PathLike,
    validation: float | Sequence[PreferencePair] | None = 0.1,
    epochs: int = 1,
    lr: float = 2e-5,
    batch_size: int = 8,
    max_length: int = 256,
    patience: int = 1,
    seed: int = 0,
    weight_decay: float = 0.01,
    monitor: str = "loss",
    ties: str = "half",
    template: str = "auto",
    max_grad_norm: float = 1.0,
    device: str | None = None,
    overwrite: bool = False,
    max_tokens_per_batch: int = DEFAULT_MAX_TOKENS_PER_BATCH,
) -> FineTuneResult:
    """Fine-tune ``base_model`` (folder or hub id) on ``pairs``; save the best epoch to
    ``output_dir`` and return it with the history (see the module docstring).

    ``validation`` is a fraction of the prompts held out from ``pairs`` (split by prompt with
    ``seed``), a separate list of pairs, or None (no early stopping; the last epoch is saved).
    ``max_length`` and ``template`` are those of the scoring :class:`RewardModel` (both are saved
    in ``metricrm_training.json``; ``get_scorer("reward_model", model=output_dir)`` defaults to
    the model's own limit, so pass ``max_length`` to score exactly as in training); the history's
    ``train_loss`` is the mean batch loss of each epoch (dropout on), its accuracies and
    ``validation_loss`` are measured in eval mode.
    """
    import torch

    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        check_integer(WHO, name, value, minimum=1)
    check_integer(WHO, "patience", patience, minimum=0)
    check_integer(WHO, "seed", seed, minimum=0)
    check_number(WHO, "lr", lr, above=0)
    check_number(WHO, "weight_decay", weight_decay, minimum=0)
    check_number(WHO, "max_grad_norm", max_grad_norm, above=0)
    check_choice(WHO, "monitor", monitor, ("loss", "accuracy"))
    pairs = _pairs(pairs, "pairs")
    out = Path(output_dir).expanduser()
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ScorerConfigError(
            f"{WHO}: output_dir {str(out)!r} exists and is not empty; pass overwrite=True or "
            "choose another folder"
        )
    train_pairs, val_pairs, _ = split_validation(WHO, pairs, validation, seed)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model, tokenizer, location, _ = load_model(
            WHO,
            "AutoModelForSequenceClassification",
            base_model,
            revision=None,
            dtype=dtype_name(WHO, None),
            trust_remote_code=False,
            num_labels=1,
        )
        rm = RewardModel(
            model,
            tokenizer,
            device=device,
            max_length=max_length,
            template=template,
            max_tokens_per_batch=max_tokens_per_batch,
        )
        train = _PairData(rm, train_pairs, ties)
        val = _PairData(rm, val_pairs, ties) if val_pairs is not None else None
        if not len(train):
            raise ScorerConfigError(f"{WHO}: every training pair is a tie and ties='exclude'")
        if val is not None and not len(val):
            val = None
        history = TrainingHistory(monitor=f"validation_{monitor}" if val is not None else "none")
        history.counts = {
            "train_pairs": len(train),
            "validation_pairs": 0 if val is None else len(val),
            "excluded_ties": train.excluded + (0 if val is None else val.excluded),
            "truncated_texts": train.truncated + (0 if val is None else val.truncated),
        }
        info = {
            "base_model": model_identity(location, model=model),
            "max_length": rm.max_length,
            "template": template,
            "resolved_template": rm.settings()["template"],
            "settings": {
                "epochs": epochs,
                "lr": lr,
                "batch_size": batch_size,
                "patience": patience,
                "seed": seed,
                "weight_decay": weight_decay,
                "monitor": monitor,
                "ties": ties,
                "max_grad_norm": max_grad_norm,
            },
            "train_data": pairs_digest(train.pairs),
            "validation_data": None if val is None else pairs_digest(val.pairs),
        }
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        stopper = EarlyStopping(patience, mode="min" if monitor == "loss" else "max")
        rng = np.random.default_rng(seed)
        targets = torch.as_tensor(train.targets, dtype=torch.float32, device=rm.device)
        best_state, step_losses = None, []
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            order = rng.permutation(len(train))
            for start in range(0, len(train), batch_size):
                idx = order[start : start + batch_size].tolist()
                items = [train.items_c[i] for i in idx] + [train.items_r[i] for i in idx]
                logits = model(**rm.batch_inputs(items)).logits[:, rm.output].float()
                loss = bt_loss(logits[: len(idx)], logits[len(idx) :], targets[idx])
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
                losses.append(float(loss.detach()))
            step_losses.extend(losses)
            history.train_loss.append(float(np.mean(losses)))
            history.train_accuracy.append(_evaluate(rm, train)[1])
            history.epochs_run = epoch
            if val is None:
                continue
            vloss, vacc = _evaluate(rm, val)
            history.validation_loss.append(vloss)
            history.validation_accuracy.append(vacc)
            if stopper.update(vloss if monitor == "loss" else vacc, epoch):
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                history.best_epoch = epoch
                _save(model, tokenizer, out, {**info, "history": history.to_dict()})
            if stopper.should_stop:
                history.stopped_early = True
                break
        if best_state is None:
            history.best_epoch = history.epochs_run
        else:
            model.load_state_dict(best_state)
        model.eval()
        _save(model, tokenizer, out, {**info, "history": history.to_dict()})
    return FineTuneResult(out, history, model, tokenizer, step_losses)


def _save(model: Any, tokenizer: Any, folder: Path, info: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)  # safetensors (the only format in transformers 5)
    tokenizer.save_pretrained(folder)
    (folder / INFO_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    set_default_permissions_in(folder)
