"""The frozen encoder behind bt_head and friends refuses a checkpoint that lacks its weights
(transformers would fill them at random and every embedding would be noise)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from metricrm.adapters.sentence_encoder import SentenceEncoder
from metricrm.core.errors import ScorerConfigError

from .model_fixtures import scratch_folder, tiny_reward_model_path

pytest.importorskip("transformers")


def _copy_without(name: str, drop: str) -> Path:
    """The tiny BERT checkpoint with every weight whose name contains ``drop`` removed."""
    from safetensors.numpy import load_file, save_file

    source = Path(tiny_reward_model_path(architecture="bert"))
    folder = scratch_folder(name)
    shutil.copytree(source, folder, dirs_exist_ok=True)
    weights = folder / "model.safetensors"
    params = load_file(str(weights))
    kept = {k: v for k, v in params.items() if drop not in k}
    assert len(kept) < len(params), f"no weight named like {drop!r} in {sorted(params)[:5]}"
    save_file(kept, str(weights), metadata={"format": "pt"})
    return folder


def test_missing_encoder_weights_are_refused_with_their_names():
    folder = _copy_without("encoder-missing-layer", "layer.0.attention.self.query")
    encoder = SentenceEncoder(folder, who="bt_head")
    with pytest.raises(ScorerConfigError) as info:
        encoder.embed(["a response"], side="right")
    message = str(info.value)
    assert message.startswith("bt_head: the encoder checkpoint at ")
    assert "encoder.layer.0.attention.self.query.weight" in message
    assert "initialised at random" in message


def test_a_checkpoint_without_the_unused_pooler_loads_and_embeds_the_same():
    full = SentenceEncoder(tiny_reward_model_path(architecture="bert"))
    no_pooler = SentenceEncoder(_copy_without("encoder-no-pooler", "pooler."))
    texts = ["a response", "another, longer response than the first"]
    a, _ = full.embed(texts, side="right")
    b, _ = no_pooler.embed(texts, side="right")
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
