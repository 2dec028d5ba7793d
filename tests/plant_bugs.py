"""Plant the bugs of issue 17 back, one at a time, and show which tests catch each.

    python -m tests.plant_bugs            # every bug
    python -m tests.plant_bugs cache-prompt label-true

Each bug is a text replacement in one library file. The file is restored (byte for byte) after
its pytest run, whatever happens. Exit status 1 when a bug survives or its pattern is gone (the
code moved: update the pattern here).
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SERVE = "tests/test_reward_server.py"


@dataclass(frozen=True)
class Bug:
    file: str
    replacements: tuple[tuple[str, str], ...]
    tests: tuple[str, ...]


BUGS: dict[str, Bug] = {
    "cache-prompt": Bug(
        "metricrm/core/cache.py",
        (("[response, references, prompt, source]", "[response, references, source]"),),
        ("tests/test_planted_bugs.py", "tests/test_cache.py"),
    ),
    "cache-source": Bug(
        "metricrm/core/cache.py",
        (("[response, references, prompt, source]", "[response, references, prompt]"),),
        ("tests/test_planted_bugs.py", "tests/test_cache.py"),
    ),
    "percentile-tail": Bug(
        "metricrm/meta/resampling.py",
        (("tail = (1.0 - confidence) / 2.0", "tail = 1.0 - confidence"),),
        ("tests/test_planted_bugs.py", "tests/test_meta_resampling.py"),
    ),
    "acc23-pooled": Bug(
        "metricrm/meta/correlation.py",
        (
            ("total += counts if single else counts / p", "total += counts"),
            ("values = total / (n_pairs if single else n_groups)", "values = total / n_pairs"),
        ),
        ("tests/test_planted_bugs.py", "tests/test_meta_correlation.py"),
    ),
    "corpus-np-sum": Bug(
        "metricrm/adapters/sacrebleu_metrics.py",
        (("summed.append(sum(column.tolist()))", "summed.append(float(np.sum(column)))"),),
        ("tests/test_planted_bugs.py", "tests/test_sacrebleu_metrics.py"),
    ),
    "evalbias-ignore-label": Bug(
        "metricrm/data/benchmarks.py",
        (
            ("chosen=responses[label - 1],", "chosen=responses[0],"),
            ("rejected=responses[2 - label],", "rejected=responses[1],"),
        ),
        ("tests/test_planted_bugs.py", "tests/test_loaders_preference.py"),
    ),
    "label-true": Bug(
        "metricrm/data/benchmarks.py",
        (("if isinstance(label, bool) or label not in (1, 2):", "if label not in (1, 2):"),),
        ("tests/test_planted_bugs.py", "tests/test_loaders_preference.py"),
    ),
    # the reward server (issue 14): its batching must give each request its own answer
    "serve-split-offset": Bug(
        "metricrm/engines/reward_protocol.py",
        (("Outcome(200, scores[start:stop], part)", "Outcome(200, scores[: stop - start], part)"),),
        (f"{_SERVE}::test_requests_of_other_shapes_share_a_batch_without_mixing_inputs",),
    ),
    "serve-no-retry": Bug(
        "metricrm/engines/reward_protocol.py",
        (
            (
                "                outcomes[i] = score_alone(scorer, requests[i])\n            continue",
                "                outcomes[i] = Outcome(500, message='batch failed')\n            continue",
            ),
        ),
        (f"{_SERVE}::test_a_failing_request_in_a_batch_leaves_the_others_their_own_scores",),
    ),
    "serve-bisect": Bug(
        "metricrm/engines/reward_protocol.py",
        (("            stop = middle\n", "            start = middle\n"),),
        (f"{_SERVE}::test_a_failing_request_in_a_batch_leaves_the_others_their_own_scores",),
    ),
    "serve-open-door": Bug(
        "metricrm/engines/reward_protocol.py",
        (("    if not token:\n        return True\n", "    return True\n"),),
        (f"{_SERVE}::test_thread_server_speaks_the_same_protocol",),
    ),
}


def plant_and_run(name: str) -> bool:
    """Plant ``name``, run its tests, restore; True when at least one test failed."""
    bug = BUGS[name]
    path = ROOT / bug.file
    original = path.read_bytes()
    text = original.decode("utf-8")
    for old, new in bug.replacements:
        if text.count(old) != 1:
            print(f"{name}: pattern {old!r} found {text.count(old)} times in {bug.file}")
            return False
        text = text.replace(old, new)
    try:
        path.write_text(text, "utf-8")
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "not slow",
                "-o",
                "addopts=",
                *bug.tests,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
    finally:
        path.write_bytes(original)
    failed = [
        line.split(" - ")[0] for line in proc.stdout.splitlines() if line.startswith("FAILED")
    ]
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-300:]
    verdict = "caught" if proc.returncode == 1 and failed else "NOT CAUGHT"
    print(f"{name}: {verdict} ({summary})")
    for test in failed:
        print(f"    {test}")
    return verdict == "caught"


def main(argv: list[str]) -> int:
    names = argv or list(BUGS)
    unknown = [n for n in names if n not in BUGS]
    if unknown:
        print(f"unknown bug(s) {', '.join(unknown)}; known: {', '.join(BUGS)}")
        return 2
    results = [plant_and_run(n) for n in names]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
