"""Score a table on a Ray cluster: Ray Data ``map_batches`` over a pool of actors.

Each actor builds its scorer once (a model is loaded once per actor) and scores whole blocks
with :func:`~metricrm.core.batching.score_in_chunks`, so a block is cut into the scorer's own
chunks and token-budget batches exactly as in-process, and a causal LM's responses to one prompt
stay in one block (their prompt runs once). Blocks hold ``batch_size`` rows: by default enough
rows to fill a few of the scorer's token budgets (model scorers) or 1,024 (classic metrics),
and fewer when that would leave an actor without at least two blocks.

The driver consults the score cache first and sends only the missing items (each distinct item
once); finished blocks stream back to the driver, which writes them to the cache at once (so a
rerun, or a run resumed after a crash, computes only what is missing) and, when ``output`` is
given, as Parquet shards (``part-00000.parquet``, ...; items found in the cache go to
``cached.parquet``) that :func:`read_shards` reads back as one table in input order. A run
replaces the shards an earlier run left in ``output``.

Ray restarts an actor that dies and retries its block; rows are keyed by their input position,
so a retried block can neither duplicate nor lose a row (the driver checks).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.batching import _check_lengths, plan_chunks, score_in_chunks, used_inputs
from ..core.cache import CacheStats, ScoreCache, item_key
from ..core.errors import ScorerConfigError
from ..core.optional import require
from ..core.records import PointwiseItem
from ..core.registry import get_scorer, scorer_spec
from ..core.types import ScoreResult
from ..core.validation import check_integer

WHO = "score_dataset"
#: rows per block for scorers without a token budget
CLASSIC_BATCH_ROWS = 1024
#: a block of a model scorer holds about this many of its token budgets
BUDGETS_PER_BLOCK = 4
#: by default a run is cut into at least this many blocks per actor (small runs spread too)
BLOCKS_PER_ACTOR = 2


def import_ray(who: str = WHO) -> Any:
    """``ray`` with Ray Data, or an error naming the ``ray`` extra."""
    ray = require("ray", who=who, extra="ray")
    require("ray.data", who=who, extra="ray")
    return ray


# -- how an actor gets its scorer -----------------------------------------------------------


@dataclass(frozen=True)
class ScorerRecipe:
    """A registered name and its settings (rebuilt in each actor), or a scorer instance
    (pickled to each actor: fine for light scorers, wasteful for loaded models)."""

    name: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    instance: Any = None

    def build(self) -> Any:
        if self.instance is not None:
            return self.instance
        return get_scorer(self.name, **dict(self.settings))

    @property
    def scorer_class(self) -> Any:
        if self.instance is not None:
            return type(self.instance)
        return scorer_spec(self.name).factory


def _plain(value: Any) -> bool:
    if isinstance(value, (str, int, float, bool, type(None))):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def recipe_for(scorer: Any, settings: Mapping[str, Any] | None = None) -> ScorerRecipe:
    """A name (with ``settings``), or an instance: rebuilt from the registry when it was made
    by ``get_scorer`` with plain settings (paths, numbers, flags), else pickled."""
    if isinstance(scorer, str):
        scorer_spec(scorer)  # unknown names fail here, listing the valid ones
        return ScorerRecipe(scorer, dict(settings or {}))
    if settings:
        raise ScorerConfigError(f"{WHO}: `settings` go with a scorer name, not an instance")
    if not callable(getattr(scorer, "score", None)):
        raise ScorerConfigError(
            f"{WHO}: expected a scorer name or a Scorer (got {type(scorer).__name__})"
        )
    recipe = getattr(scorer, "recipe", None)
    if isinstance(recipe, tuple) and len(recipe) == 2 and _plain(recipe[1]):
        return ScorerRecipe(recipe[0], dict(recipe[1]))
    return ScorerRecipe(instance=scorer)


class ScoreActor:
    """A Ray Data actor: builds the scorer once, then scores whole blocks."""

    def __init__(self, recipe: ScorerRecipe, chunk_size: int | None, threads: int | None):
        if threads:
            try:
                import torch

                torch.set_num_threads(threads)
            except ImportError:
                pass
        self.scorer = recipe.build()
        self.chunk_size = chunk_size

    def __call__(self, block: Any) -> Any:
        import pandas as pd

        inputs = _decode(block)
        result = score_in_chunks(
            self.scorer, inputs.pop("responses"), **inputs, chunk_size=self.chunk_size,
            progress=False,
        )  # fmt: skip
        out = {"row": block["row"].to_numpy(), "score": result.scores}
        for key, values in result.details.items():
            out[f"detail.{key}"] = np.asarray(values)
        return pd.DataFrame(out)


# -- rows in and out ------------------------------------------------------------------------


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _decode(block: Any) -> dict[str, Any]:
    def column(name: str) -> list | None:
        values = block[name].tolist()
        if all(v is None for v in values):
            return None
        return [None if v is None else json.loads(v) for v in values]

    return {
        "responses": column("response"),
        "references": column("references"),
        "prompts": column("prompt"),
        "sources": column("source"),
    }


def _inputs(data: Any, responses, references, prompts, sources) -> dict[str, Any]:
    """The four input columns from ``data`` (a DataFrame with ``response`` and optional
    ``references``/``prompt``/``source`` columns, pointwise items, or a mapping of columns) or
    from the keyword arguments."""
    if data is None:
        return dict(responses=responses, references=references, prompts=prompts, sources=sources)
    if any(v is not None for v in (responses, references, prompts, sources)):
        raise ScorerConfigError(f"{WHO}: pass `data` or the input columns, not both")
    if isinstance(data, Sequence) and data and isinstance(data[0], PointwiseItem):
        from ..core.batching import record_inputs

        return record_inputs(data, who=WHO)
    columns = data if isinstance(data, Mapping) else None
    if columns is None and hasattr(data, "columns"):
        columns = {c: data[c].tolist() for c in data.columns}
    if columns is None or "response" not in columns:
        raise ScorerConfigError(
            f"{WHO}: expected `data` to be a table with a `response` column (and optionally "
            f"`references`, `prompt`, `source`), or a list of PointwiseItem "
            f"(got {type(data).__name__})"
        )
    get = lambda k: None if columns.get(k) is None else list(columns[k])  # noqa: E731
    refs = get("references")
    if refs is not None:
        refs = [[r] if isinstance(r, str) else list(r) for r in refs]
    return dict(
        responses=list(columns["response"]), references=refs, prompts=get("prompt"),
        sources=get("source"),
    )  # fmt: skip


def _block_rows(scorer_class: Any, settings: Mapping[str, Any], inputs: dict) -> int:
    """Rows per block: a few of the scorer's token budgets' worth of items, or a fixed count."""
    budget = settings.get("max_tokens_per_batch")
    if budget is None:
        defaults = getattr(scorer_class, "model_defaults", None) or {}
        budget = defaults.get("max_tokens_per_batch")
    if budget is None:
        return CLASSIC_BATCH_ROWS
    sample = inputs["responses"][:200]
    chars = [len(json.dumps(r)) for r in sample]
    if inputs["prompts"] is not None:
        chars = [c + len(json.dumps(p)) for c, p in zip(chars, inputs["prompts"][:200])]
    tokens = max(1.0, float(np.mean(chars)) / 4)  # about four characters per token
    return max(8, int(BUDGETS_PER_BLOCK * budget / tokens))


def read_shards(folder: str | os.PathLike) -> Any:
    """The Parquet shards of :func:`score_dataset` as one pandas table, in input order."""
    require("pyarrow", who="read_shards", extra="io")
    import pandas as pd

    files = sorted(Path(folder).glob("*.parquet"))
    if not files:
        raise FileNotFoundError(f"read_shards: no .parquet shard in {folder}")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    return frame.sort_values("row", kind="stable").reset_index(drop=True)


def _clear_shards(folder: Path) -> None:
    """Make ``folder`` and remove the shards of an earlier run there (a new run replaces them,
    as writing a file replaces it); other files are left alone."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in [*folder.glob("part-*.parquet"), folder / "cached.parquet"]:
        old.unlink(missing_ok=True)


def _write_shard(frame: Any, path: Path) -> None:
    from ..core.results_io import atomic_write

    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


# -- the driver -------------------------------------------------------------------------------


#: the address this process asked Ray to join (None: Ray was not started here)
_JOINED: list[str | None] = [None]


def _host(name: str) -> str:
    import socket

    try:
        return socket.gethostbyname(name)
    except OSError:
        return name


def same_cluster(requested: str | None, connected: str, client: bool) -> bool | None:
    """Whether ``requested`` names the cluster at GCS address ``connected`` (``host:port``):
    True, False, or None when it cannot be told (a Ray Client connection, whose server port is
    not the GCS port). None and ``"auto"`` mean the running cluster."""
    if requested is None or requested == "auto" or requested == _JOINED[0]:
        return True
    if client:
        return None
    host, _, port = connected.rpartition(":")
    if requested.startswith("ray://"):  # the client server runs on the head node, other port
        other = requested[len("ray://") :].rpartition(":")[0] or requested[len("ray://") :]
        return _host(other) == _host(host)
    other, _, other_port = requested.rpartition(":")
    return other_port == port and _host(other) == _host(host)


def _connect(ray: Any, address: str | None) -> None:
    """Join ``address`` (or the running cluster, or a new local one) once per process; Ray
    Data's progress bars and execution logs stay off.

    A process is connected to one cluster at a time: an ``address`` naming another cluster
    than the connected one is refused (it cannot be honoured without disconnecting the
    caller's Ray session); a Ray Client connection, whose cluster cannot be checked, gets a
    warning."""
    import logging

    logging.getLogger("ray.data").setLevel(logging.WARNING)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    if ray.is_initialized():
        client = bool(getattr(ray.util, "client", None) and ray.util.client.ray.is_connected())
        connected = "a Ray Client server" if client else ray.get_runtime_context().gcs_address
        same = same_cluster(address, connected, client)
        if same is False:
            raise ScorerConfigError(
                f"{WHO}: address={address!r} names another Ray cluster than the one this "
                f"process is already connected to ({connected}); call ray.shutdown() first, or "
                "pass address=None (or 'auto') to score on the connected cluster"
            )
        if same is None:
            import warnings

            warnings.warn(
                f"{WHO}: this process is already connected to {connected}; address="
                f"{address!r} cannot be checked against it and the connected cluster is used",
                RuntimeWarning,
                stacklevel=3,
            )
        return
    ray.init(
        address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
    )  # fmt: skip
    _JOINED[0] = address


def score_dataset(
    scorer: Any,
    data: Any = None,
    *,
    responses: Sequence[Any] | None = None,
    references: Sequence[Any] | None = None,
    prompts: Sequence[Any] | None = None,
    sources: Sequence[str] | None = None,
    settings: Mapping[str, Any] | None = None,
    output: str | os.PathLike | None = None,
    address: str | None = None,
    num_actors: int = 2,
    cpus_per_actor: float = 1,
    gpus_per_actor: float = 0,
    threads_per_actor: int | None = None,
    batch_size: int | None = None,
    chunk_size: int | None = None,
    cache: ScoreCache | str | os.PathLike | bool | None = None,
    stats: CacheStats | None = None,
    signature: str | None = None,
) -> ScoreResult:
    """Score every item on a Ray cluster; the result equals in-process scoring (module doc).

    ``scorer`` is a registered name (with ``settings``; each actor builds it) or a scorer.
    ``data`` is a table with a ``response`` column (and optional ``references``, ``prompt``,
    ``source``), a list of :class:`~metricrm.core.records.PointwiseItem`, or None with the
    columns passed as keywords. ``address`` is a Ray cluster (``"auto"``, ``"ray://..."``;
    None joins the running one or starts a local one; once the process is connected, another
    cluster's address is refused). ``cache``: a :class:`ScoreCache` or
    folder, True for the default cache, None/False for none. ``signature`` spares the driver
    building a named scorer (a model) just to read its signature for the cache.
    """
    ray = import_ray()
    check_integer(WHO, "num_actors", num_actors, minimum=1)
    if batch_size is not None:
        check_integer(WHO, "batch_size", batch_size, minimum=1)
    recipe = recipe_for(scorer, settings)
    inputs = _inputs(data, responses, references, prompts, sources)
    name = recipe.name or getattr(recipe.instance, "name", type(recipe.instance).__name__)
    inputs["responses"] = _check_lengths(
        name, inputs["responses"], inputs["references"], inputs["prompts"], inputs["sources"]
    )
    n = len(inputs["responses"])
    if cache is True:
        cache = ScoreCache()
    elif isinstance(cache, (str, os.PathLike)):
        cache = ScoreCache(cache)
    elif cache is False:
        cache = None
    _connect(ray, address)
    cls = recipe.scorer_class
    local = recipe.instance
    if local is None and not getattr(cls, "requires_model", False):
        local = recipe.build()  # a classic metric is cheap to build here too
    if local is not None:
        signature = local.signature
    elif signature is None:  # a model: read its signature where the actors run, not here
        signature = ray.get(ray.remote(num_cpus=cpus_per_actor)(_signature).remote(recipe))
    uses = used_inputs(local if local is not None else cls)
    keyed = [inputs[k] if k in uses else None for k in ("references", "prompts", "sources")]
    keys = [
        item_key(inputs["responses"][i], *(None if v is None else v[i] for v in keyed))
        for i in range(n)
    ]
    found = cache.get_many(signature, keys) if cache is not None else {}
    first: dict[str, int] = {}
    todo = [first.setdefault(k, i) for i, k in enumerate(keys) if k not in found and k not in first]
    if stats is not None:
        stats.hits += n - sum(1 for k in keys if k not in found)
    folder = None if output is None else Path(output)
    if folder is not None:
        _clear_shards(folder)
    computed = _run(
        ray, recipe, cls, inputs, todo, keys, num_actors=num_actors,
        cpus=cpus_per_actor, gpus=gpus_per_actor, threads=threads_per_actor,
        batch_size=batch_size, chunk_size=chunk_size, cache=cache, signature=signature,
        folder=folder, stats=stats, settings=dict(settings or {}),
    )  # fmt: skip
    found.update(computed)
    result = _assemble(name, local if local is not None else cls, signature, keys, found)
    if folder is not None:
        _write_cached_shard(folder, keys, todo, result, n)
    return result


def _signature(recipe: ScorerRecipe) -> str:
    return recipe.build().signature


def _run(ray, recipe, cls, inputs, todo, keys, **opts) -> dict[str, tuple[float, dict]]:
    """Score rows ``todo`` on the actor pool; stream finished blocks to the cache and shards."""
    import pandas as pd

    if not todo:
        return {}
    rows = opts["batch_size"]
    if rows is None:  # the scorer's own size, but small enough to give every actor work
        spread = -(-len(todo) // (BLOCKS_PER_ACTOR * opts["num_actors"]))
        rows = max(1, min(_block_rows(cls, opts["settings"], inputs), spread))
    blocks = plan_chunks(cls, todo, inputs["prompts"], rows)
    frames = []
    for block in blocks:
        frames.append(
            pd.DataFrame(
                {
                    "row": np.asarray(block, dtype=np.int64),
                    "response": [_dumps(inputs["responses"][i]) for i in block],
                    "references": [_col(inputs["references"], i) for i in block],
                    "prompt": [_col(inputs["prompts"], i) for i in block],
                    "source": [_col(inputs["sources"], i) for i in block],
                }
            )
        )
    dataset = ray.data.from_pandas(frames)
    scored = dataset.map_batches(
        ScoreActor,
        fn_constructor_args=(recipe, opts["chunk_size"], opts["threads"]),
        batch_size=None,  # one whole block per call: blocks were cut along prompts
        batch_format="pandas",
        # no more actors than blocks: an idle actor would still load its model
        compute=ray.data.ActorPoolStrategy(size=min(opts["num_actors"], len(blocks))),
        num_cpus=opts["cpus"],
        num_gpus=opts["gpus"] or None,
    )
    done: dict[str, tuple[float, dict]] = {}
    seen: set[int] = set()
    shard = 0
    for frame in scored.iter_batches(batch_size=None, batch_format="pandas"):
        rows_here = frame["row"].tolist()
        repeated = seen.intersection(rows_here)
        if repeated or len(set(rows_here)) != len(rows_here):
            raise RuntimeError(f"{WHO}: rows {sorted(repeated)[:5]} came back twice")
        seen.update(rows_here)
        detail_cols = [c for c in frame.columns if c.startswith("detail.")]
        entries = []
        for j, row in enumerate(rows_here):
            details = {c[len("detail.") :]: _scalar(frame[c].iloc[j]) for c in detail_cols}
            entries.append((keys[row], float(frame["score"].iloc[j]), details))
        if opts["cache"] is not None:
            opts["cache"].put_many(opts["signature"], entries)
        done.update({k: (s, d) for k, s, d in entries})
        if opts["stats"] is not None:
            opts["stats"].computed += len(entries)
        if opts["folder"] is not None:
            _write_shard(frame, opts["folder"] / f"part-{shard:05d}.parquet")
            shard += 1
    missing = sorted(set(todo) - seen)
    if missing:
        raise RuntimeError(f"{WHO}: rows {missing[:5]} never came back ({len(missing)} in all)")
    return done


def _col(values: Sequence[Any] | None, i: int) -> str | None:
    return None if values is None else _dumps(values[i])


def _scalar(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _assemble(name: str, scorer: Any, signature: str, keys: list[str], found: dict) -> ScoreResult:
    """The result in input order; the corpus score (from summed details) when the scorer is an
    instance here (a model scorer's class has none to give)."""
    scores = np.array([found[k][0] for k in keys], dtype=np.float64)
    detail_keys = list(found[keys[0]][1])
    details = {d: np.asarray([found[k][1][d] for k in keys]) for d in detail_keys}
    corpus = None
    if not isinstance(scorer, type) and hasattr(scorer, "corpus_from_details"):
        corpus = scorer.corpus_from_details(details)
    return ScoreResult(
        name=name,
        scores=scores,
        higher_is_better=bool(getattr(scorer, "higher_is_better", True)),
        signature=signature,
        details=details,
        corpus_score=None if corpus is None else float(corpus),
    )


def _write_cached_shard(folder: Path, keys, todo, result: ScoreResult, n: int) -> None:
    """Rows served from the cache (and repeats of computed items) as ``cached.parquet``."""
    import pandas as pd

    computed = set(todo)
    rows = [i for i in range(n) if i not in computed]
    target = folder / "cached.parquet"
    if not rows:
        target.unlink(missing_ok=True)
        return
    frame = {"row": np.asarray(rows, dtype=np.int64), "score": result.scores[rows]}
    for key, values in result.details.items():
        frame[f"detail.{key}"] = values[rows]
    _write_shard(pd.DataFrame(frame), target)


# -- an engine for the runners ----------------------------------------------------------------


class RayEngine:
    """Scores whole inputs on Ray for the runners: ``with use_engine(RayEngine(...)):`` makes
    ``score_in_chunks``, ``score_with_cache``, ``score_pairs`` and ``meta_evaluate`` score there
    (the score cache, when given, is consulted first)."""

    def __init__(self, *, address: str | None = None, num_actors: int = 2, **options: Any):
        check_integer("RayEngine", "num_actors", num_actors, minimum=1)
        self.address, self.num_actors, self.options = address, num_actors, options

    def score(self, scorer, responses, *, references, prompts, sources, cache, stats):
        return score_dataset(
            scorer, responses=responses, references=references, prompts=prompts,
            sources=sources, address=self.address, num_actors=self.num_actors, cache=cache,
            stats=stats, **self.options,
        )  # fmt: skip
