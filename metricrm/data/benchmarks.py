"""Loaders for published preference benchmarks: RM-Bench, LLMBar, EvalBiasBench, WMT DARR.

Each returns ``list[PreferencePair]`` in file order, with ``chosen`` always the better response
and the benchmark's own label kept in ``meta``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..core.errors import DataFormatError
from ..core.records import PreferencePair
from ._io import PathLike, existing_path, expect_text, expect_type, read_json, require_keys

RM_BENCH_STYLES = ("concise", "detailed plain", "detailed markdown")
"""RM-Bench response styles, in the order of each item's ``chosen``/``rejected`` lists."""


def rm_bench_difficulty(chosen_style: int, rejected_style: int) -> str:
    """RM-Bench cell name: ``hard`` when the chosen response is plainer than the rejected one
    (upper triangle), ``normal`` on the diagonal, ``easy`` below it."""
    if chosen_style < rejected_style:
        return "hard"
    return "normal" if chosen_style == rejected_style else "easy"


def load_rm_bench(path_or_dir: PathLike) -> list[PreferencePair]:
    """Load RM-Bench ``*_filtered.json`` files (one file, or every such file in a folder).

    Each prompt gives 9 pairs, one per cell of the 3x3 matrix (chosen style ``i`` vs rejected
    style ``j``, styles as in :data:`RM_BENCH_STYLES`), in row-major order. ``subset`` is the
    domain taken from the file name (``chat``, ``code``, ``safety-refuse``, ``safety-response``);
    ``id`` is ``"{domain}/{prompt id}/{i}{j}"`` (prompt ids repeat across domains). ``meta`` holds
    ``prompt_id``, ``chosen_style``, ``rejected_style``, ``difficulty`` (hard/normal/easy),
    ``item_subset`` (the item's own ``subset`` field, e.g. ``alpacaeval``) and the item's other
    fields (``language``, ``task_id``, ``error_key``, ``error``) unchanged.
    """
    path = existing_path(path_or_dir, who="load_rm_bench")
    files = sorted(path.glob("*_filtered.json")) if path.is_dir() else [path]
    if not files:
        raise DataFormatError(f"load_rm_bench: no *_filtered.json file in {path}")
    pairs: list[PreferencePair] = []
    for file in files:
        pairs.extend(_rm_bench_file(file))
    return pairs


def _rm_bench_file(file: Path) -> list[PreferencePair]:
    domain = file.name.removesuffix(".json").removesuffix("_filtered")
    items = expect_type(read_json(file), list, str(file), "the top-level value")
    n_styles = len(RM_BENCH_STYLES)
    pairs = []
    for index, item in enumerate(items):
        where = f"{file}: item {index}"
        require_keys(item, ("id", "prompt", "chosen", "rejected"), where)
        prompt = expect_text(item, "prompt", where)
        sides = {}
        for key in ("chosen", "rejected"):
            value = item[key]
            if not (isinstance(value, list) and len(value) == n_styles):
                got = f"{len(value)} entries" if isinstance(value, list) else type(value).__name__
                raise DataFormatError(
                    f"{where}: expected `{key}` to be a list of {n_styles} responses (got {got})"
                )
            for k, text in enumerate(value):
                expect_type(text, str, where, f"`{key}[{k}]`")
            sides[key] = value
        own = ("id", "prompt", "chosen", "rejected", "subset")
        extra = {k: v for k, v in item.items() if k not in own}
        for i in range(n_styles):
            for j in range(n_styles):
                meta = {
                    "prompt_id": item["id"],
                    "chosen_style": i,
                    "rejected_style": j,
                    "difficulty": rm_bench_difficulty(i, j),
                    "item_subset": item.get("subset"),
                    **extra,
                }
                pairs.append(
                    PreferencePair(
                        prompt=prompt,
                        chosen=sides["chosen"][i],
                        rejected=sides["rejected"][j],
                        subset=domain,
                        id=f"{domain}/{item['id']}/{i}{j}",
                        meta=meta,
                    )
                )
    return pairs


def _one_or_two(item: dict[str, Any], key: str, where: str) -> int:
    label = item[key]
    if isinstance(label, bool) or label not in (1, 2):
        raise DataFormatError(f"{where}: expected `{key}` to be 1 or 2 (got {label!r})")
    return int(label)


def load_llmbar(path_or_dir: PathLike) -> list[PreferencePair]:
    """Load LLMBar ``dataset.json`` files (one file, or every one below a folder, sorted by path).

    ``label`` 1 or 2 names the better of ``output_1``/``output_2``; it becomes ``chosen`` and is
    kept as ``meta["label"]``. ``subset`` is the folder name, prefixed ``Adversarial-`` for the
    adversarial sets (``Natural``, ``Adversarial-Neighbor``, ...). ``id`` is ``"{subset}/{index}"``.
    """
    path = existing_path(path_or_dir, who="load_llmbar")
    files = sorted(path.rglob("dataset.json")) if path.is_dir() else [path]
    if not files:
        raise DataFormatError(f"load_llmbar: no dataset.json file below {path}")
    pairs: list[PreferencePair] = []
    for file in files:
        folder = file.parent
        subset = folder.name
        if folder.parent.name == "Adversarial":
            subset = f"Adversarial-{subset}"
        items = expect_type(read_json(file), list, str(file), "the top-level value")
        for index, item in enumerate(items):
            where = f"{file}: item {index}"
            require_keys(item, ("input", "output_1", "output_2", "label"), where)
            label = _one_or_two(item, "label", where)
            outputs = [expect_text(item, f"output_{k}", where) for k in (1, 2)]
            pairs.append(
                PreferencePair(
                    prompt=expect_text(item, "input", where),
                    chosen=outputs[label - 1],
                    rejected=outputs[2 - label],
                    subset=subset,
                    id=f"{subset}/{index}",
                    meta={"label": label},
                )
            )
    return pairs


def load_evalbiasbench(path: PathLike) -> list[PreferencePair]:
    """Load EvalBiasBench ``biasbench.json``: a dict from bias type to a list of items.

    ``label`` (1 or 2; always 1 in the published file) names the better of
    ``response1``/``response2``. ``subset`` is the bias type (the dict key), ``id`` is
    ``"{bias}/{index}"``; ``meta`` keeps ``label`` and the item's own ``bias`` field.
    """
    file = existing_path(path, who="load_evalbiasbench")
    data = expect_type(read_json(file), dict, str(file), "the top-level value")
    pairs: list[PreferencePair] = []
    for bias, items in data.items():
        expect_type(items, list, f"{file}: bias {bias!r}", "the entry")
        for index, item in enumerate(items):
            where = f"{file}: bias {bias!r}, item {index}"
            require_keys(item, ("instruction", "response1", "response2", "label"), where)
            label = _one_or_two(item, "label", where)
            responses = [expect_text(item, f"response{k}", where) for k in (1, 2)]
            pairs.append(
                PreferencePair(
                    prompt=expect_text(item, "instruction", where),
                    chosen=responses[label - 1],
                    rejected=responses[2 - label],
                    subset=bias,
                    id=f"{bias}/{index}",
                    meta={"label": label, "bias": item.get("bias")},
                )
            )
    return pairs


def load_wmt_darr(path: PathLike, *, lang_pair: str | None = None) -> list[PreferencePair]:
    """Load a WMT DARR relative-ranking file (BARTScore's JSON form, ``{id: {src, ref, better,
    worse}}``).

    ``prompt`` and ``source`` are the source sentence, ``references`` the single reference,
    ``chosen``/``rejected`` the better/worse translation, ``subset`` the language pair (the
    file name without ``.json`` unless ``lang_pair`` is given), ``id`` the file's key.
    ``meta`` has ``chosen_system``/``rejected_system`` and any other field of ``better``/``worse``
    (e.g. ``chosen_scores``) under the same prefix, and ``statistic: "tau_like"``: the WMT
    statistic for these pairs, which ``meta_evaluate`` then computes by default.
    """
    file = existing_path(path, who="load_wmt_darr")
    data = expect_type(read_json(file), dict, str(file), "the top-level value")
    subset = lang_pair or file.name.removesuffix(".json")
    pairs: list[PreferencePair] = []
    for key, item in data.items():
        where = f"{file}: entry {key!r}"
        require_keys(item, ("src", "ref", "better", "worse"), where)
        src = expect_text(item, "src", where)
        meta: dict[str, Any] = {"statistic": "tau_like"}
        texts = {}
        for side, prefix in (("better", "chosen"), ("worse", "rejected")):
            entry = require_keys(item[side], ("sys", "sys_name"), f"{where}, `{side}`")
            texts[side] = expect_text(entry, "sys", f"{where}, `{side}`")
            meta[f"{prefix}_system"] = entry["sys_name"]
            meta.update(
                {f"{prefix}_{k}": v for k, v in entry.items() if k not in ("sys", "sys_name")}
            )
        pairs.append(
            PreferencePair(
                prompt=src,
                chosen=texts["better"],
                rejected=texts["worse"],
                subset=subset,
                id=str(key),
                references=(expect_text(item, "ref", where),),
                source=src,
                meta=meta,
            )
        )
    return pairs
