"""Seeded samples from a causal LM, kept on disk so that best-of-n runs reuse and resume them.

Samples are drawn in blocks of ``block_size`` per prompt: one ``model.generate`` call with
``num_return_sequences=block_size`` on the prompt rendered as the scorers render it (the
chat template with its generation prompt, else plain turns). Block b of a prompt is seeded by
the seed, the prompt and b only, so a block's samples do not depend on which other prompts or
blocks are drawn in the same run, asking for more samples later reuses the blocks already on
disk, and an interrupted run resumes with the next missing block.

The store is one JSON-lines file per (model weights, rendering, sampling settings) under
``<cache>/samples/`` (``cache_root``), each line one finished block, written and flushed
before the next block starts; a line cut short by a kill is dropped on the next run. A
sidecar ``.json`` file names the model and settings. One writer per store at a time.

Sampling is plain ancestral sampling (``temperature=1``, no top-k or top-p cut) by default, so
the samples come from the model's own distribution - what the best-of-n KL formula assumes.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..adapters.chat_format import PlainFormat, describe_mode, render_prefix, resolve_mode
from ..adapters.hf_common import load_or_wrap
from ..adapters.model_settings import ModelSettings
from ..core.errors import ScorerConfigError, ScorerInputError
from ..core.paths import cache_root
from ..core.records import Text
from ..core.settings import build_settings
from ..core.validation import check_flag, check_integer, check_number

FORMAT = "metricrm.samples/1"


@dataclass(frozen=True)
class SampleSettings:
    """How samples are drawn; every field is part of the store's key."""

    max_new_tokens: int = 64
    min_new_tokens: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    block_size: int = 16
    max_prompt_tokens: int = 1024
    seed: int = 0

    def check(self, who: str) -> SampleSettings:
        check_integer(who, "max_new_tokens", self.max_new_tokens, minimum=1)
        check_integer(who, "min_new_tokens", self.min_new_tokens, minimum=0)
        if self.min_new_tokens > self.max_new_tokens:
            raise ScorerConfigError(
                f"{who}: `min_new_tokens` must not exceed `max_new_tokens` "
                f"(got {self.min_new_tokens} > {self.max_new_tokens})"
            )
        check_number(who, "temperature", self.temperature, above=0.0)
        check_number(who, "top_p", self.top_p, above=0.0, maximum=1.0)
        check_integer(who, "top_k", self.top_k, minimum=0)
        check_integer(who, "block_size", self.block_size, minimum=1)
        check_integer(who, "max_prompt_tokens", self.max_prompt_tokens, minimum=1)
        check_integer(who, "seed", self.seed, minimum=0)
        return self


@dataclass
class SamplePool:
    """``n`` samples for each prompt, in prompt order.

    ``texts[i][k]`` is sample k of prompt i (decoded without special tokens, whitespace
    stripped), ``n_tokens`` its generated token count before the end-of-sequence token,
    ``finished`` whether it ended with that token (else it hit ``max_new_tokens``).
    ``generated`` counts the samples drawn by this call (the rest came from the store).
    """

    prompts: list[Text]
    texts: list[list[str]]
    n_tokens: list[list[int]]
    finished: list[list[bool]]
    model: str
    settings: SampleSettings
    path: Path
    generated: int = 0
    truncated_prompts: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.texts[0]) if self.texts else 0

    def flat(self) -> tuple[list[Text], list[str], list[int]]:
        """``(prompts, responses, prompt index)``: every sample as one scorer input."""
        prompts, responses, index = [], [], []
        for i, (prompt, texts) in enumerate(zip(self.prompts, self.texts)):
            prompts += [prompt] * len(texts)
            responses += texts
            index += [i] * len(texts)
        return prompts, responses, index


def prompt_key(prompt: Text) -> str:
    """Stable hash of a prompt (a string or chat messages)."""
    payload = json.dumps(prompt if isinstance(prompt, str) else [dict(m) for m in prompt],
                         ensure_ascii=False, sort_keys=True)  # fmt: skip
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]


def block_seed(seed: int, key: str, block: int) -> int:
    """The torch seed of one block: from the run's seed, the prompt and the block index."""
    digest = hashlib.sha256(f"{seed}|{key}|{block}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _read_store(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Finished blocks on disk; a last line cut short by an interrupt is dropped (and cut
    off the file, so that the next block starts on a fresh line)."""
    blocks: dict[tuple[str, int], dict[str, Any]] = {}
    if not path.is_file():
        return blocks
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as handle:
            handle.truncate(end)
    for line in data[:end].decode("utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        blocks[(record["prompt"], int(record["block"]))] = record
    return blocks


def _eos_ids(tokenizer: Any, model: Any) -> set[int]:
    ids = set()
    for value in (getattr(model.generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


class _Generator:
    """One loaded model drawing blocks of samples."""

    def __init__(self, who: str, loaded: Any, mode: str, settings: SampleSettings) -> None:
        self.who, self.model, self.tokenizer = who, loaded.model, loaded.tokenizer
        self.mode, self.settings = mode, settings
        self.plain = PlainFormat()
        self.eos = _eos_ids(self.tokenizer, self.model)
        pad = self.tokenizer.pad_token_id
        self.pad = pad if pad is not None else (min(self.eos) if self.eos else 0)

    def encode(self, prompt: Text) -> tuple[list[int], bool]:
        text = render_prefix(self.tokenizer, self.mode, prompt, self.plain)
        ids = self.tokenizer(text, add_special_tokens=self.mode != "chat")["input_ids"]
        limit = self.settings.max_prompt_tokens
        return (list(ids[-limit:]), True) if len(ids) > limit else (list(ids), False)

    def block(self, ids: list[int], seed: int) -> dict[str, list]:
        import torch

        s = self.settings
        torch.manual_seed(seed)
        inputs = torch.tensor([ids], device=self.model.device)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=inputs,
                attention_mask=torch.ones_like(inputs),
                do_sample=True,
                temperature=s.temperature,
                top_p=s.top_p,
                top_k=s.top_k,
                max_new_tokens=s.max_new_tokens,
                min_new_tokens=s.min_new_tokens,
                num_return_sequences=s.block_size,
                pad_token_id=self.pad,
            )
        texts, lengths, finished = [], [], []
        for row in out[:, len(ids) :].tolist():
            stop = next((k for k, t in enumerate(row) if t in self.eos), None)
            tokens = row if stop is None else row[:stop]
            texts.append(self.tokenizer.decode(tokens, skip_special_tokens=True).strip())
            lengths.append(len(tokens))
            finished.append(stop is not None)
        return {"texts": texts, "n_tokens": lengths, "finished": finished}


def sample_responses(
    model: Any,
    prompts: Sequence[Text],
    n: int,
    *,
    tokenizer: Any = None,
    store: str | os.PathLike | None = None,
    template: str = "auto",
    dtype: Any = None,
    device: str | None = None,
    progress: bool = True,
    **settings: Any,
) -> SamplePool:
    """``n`` seeded samples per prompt from the causal LM ``model`` (a folder, hub id, or a
    loaded model with its ``tokenizer``), reusing every block already in the store.

    ``settings`` are :class:`SampleSettings` fields (``max_new_tokens``, ``temperature``,
    ``top_p``, ``top_k``, ``block_size``, ``seed``, ...). ``store`` is the folder of sample
    files (default ``<cache>/samples``). A progress bar counts the blocks drawn; an interrupt
    keeps every finished block, and the next call draws only the missing ones.
    """
    who = "sample_responses"
    options = build_settings(SampleSettings, who, settings)
    check_integer(who, "n", n, minimum=1)
    check_flag(who, "progress", progress)
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__len__") or not prompts:
        raise ScorerInputError(f"{who}: expected a non-empty list of prompts")
    prompts = list(prompts)
    loaded = load_or_wrap(
        who, "AutoModelForCausalLM", model, tokenizer, ModelSettings(dtype=dtype, device=device)
    )
    mode = resolve_mode(who, loaded.tokenizer, template, allow_pair=False)
    generator = _Generator(who, loaded, mode, options)
    description = {
        "format": FORMAT,
        "model": loaded.identity,
        "dtype": loaded.dtype,
        "template": describe_mode(mode, generator.plain),
        "settings": asdict(options),
    }
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(store) if store is not None else cache_root() / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"samples-{key}.jsonl"
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        sidecar.write_text(json.dumps(description, indent=1) + "\n", encoding="utf-8")
    blocks = _read_store(path)
    keys = [prompt_key(p) for p in prompts]
    unique = list(dict.fromkeys(keys))
    n_blocks = -(-n // options.block_size)
    todo = [(k, b) for k in unique for b in range(n_blocks) if (k, b) not in blocks]
    encoded: dict[str, list[int]] = {}
    truncated = 0
    for k in unique:
        encoded[k], cut = generator.encode(prompts[keys.index(k)])
        truncated += int(cut)
    from tqdm.auto import tqdm

    with open(path, "a", encoding="utf-8") as out, tqdm(
        total=len(todo), desc=f"sampling ({options.block_size} per block)", unit="block",
        disable=not progress, leave=False,
    ) as bar:  # fmt: skip
        for k, b in todo:
            record = {"prompt": k, "block": b, **generator.block(encoded[k], block_seed(
                options.seed, k, b))}  # fmt: skip
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            blocks[(k, b)] = record
            bar.update(1)
    texts, lengths, finished = [], [], []
    for k in keys:
        parts = [blocks[(k, b)] for b in range(n_blocks)]
        texts.append([t for p in parts for t in p["texts"]][:n])
        lengths.append([t for p in parts for t in p["n_tokens"]][:n])
        finished.append([t for p in parts for t in p["finished"]][:n])
    return SamplePool(
        prompts=prompts,
        texts=texts,
        n_tokens=lengths,
        finished=finished,
        model=loaded.identity,
        settings=options,
        path=path,
        generated=len(todo) * options.block_size,
        truncated_prompts=truncated,
        info=description,
    )
