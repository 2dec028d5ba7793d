"""Core behaviour: registry, plugins, result objects, light import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import metricrm as mr
from metricrm.core import registry
from metricrm.core.errors import ScorerConfigError, ScorerOutputError, UnknownScorerError


class _Constant(mr.BaseScorer):
    """Scores every response with a fixed value."""

    name = "constant"

    def __init__(self, value: float = 1.0) -> None:
        self.value = value

    def settings(self):
        return {"value": self.value}

    def _score(self, responses, *, references, prompts, sources):
        return mr.ScoreOutput([self.value] * len(responses))


@pytest.fixture
def registered():
    mr.register_scorer("test_constant", _Constant)
    yield "test_constant"
    mr.unregister_scorer("test_constant")


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownScorerError) as err:
        mr.get_scorer("chrff")
    message = str(err.value)
    assert "unknown scorer 'chrff'" in message
    for name in ("chrf", "bleu", "rougeL"):
        assert name in message


def test_unknown_setting_names_scorer_and_valid_settings(registered):
    with pytest.raises(
        ScorerConfigError,
        match=r"test_constant: unknown setting\(s\) colour; valid settings: value",
    ):
        mr.get_scorer(registered, colour="red")


def test_preset_cannot_be_overridden():
    with pytest.raises(ScorerConfigError, match=r"chrf\+\+: setting\(s\) word_order are fixed"):
        mr.get_scorer("chrf++", word_order=0)


def test_register_and_get_fresh_configured_instance(registered):
    a = mr.get_scorer(registered, value=2.5)
    b = mr.get_scorer(registered, value=2.5)
    assert a is not b
    result = a.score(["x", "y"])
    np.testing.assert_array_equal(result.scores, [2.5, 2.5])
    assert result.name == registered
    assert "value:2.5" in a.signature
    assert registered in mr.list_scorers()


def test_register_twice_needs_overwrite(registered):
    with pytest.raises(ScorerConfigError, match="already registered"):
        mr.register_scorer(registered, _Constant)
    mr.register_scorer(registered, _Constant, overwrite=True, value=7.0)
    np.testing.assert_array_equal(mr.get_scorer(registered).score(["x"]).scores, [7.0])


def test_register_as_decorator():
    @mr.register_scorer("test_decorated")
    class Decorated(_Constant):
        pass

    try:
        assert isinstance(mr.get_scorer("test_decorated"), Decorated)
    finally:
        mr.unregister_scorer("test_decorated")


def test_nan_from_backend_names_item(registered):
    scorer = mr.get_scorer(registered, value=float("nan"))
    with pytest.raises(
        ScorerOutputError,
        match=r"test_constant: backend returned a non-finite score \(nan\) for item 0 and 1 more",
    ):
        scorer.score(["x", "y"])


def test_chat_messages_are_accepted_as_responses_and_prompts():
    scorer = mr.get_scorer("length_chars")
    result = scorer.score(
        [[{"role": "assistant", "content": "Hello there"}], "Hello there"],
        prompts=[[{"role": "user", "content": "Hi"}], "Hi"],
    )
    np.testing.assert_array_equal(result.scores, [11.0, 11.0])


def test_protocol_is_satisfied_by_builtins():
    assert isinstance(mr.get_scorer("token_f1"), mr.Scorer)


def test_to_frame_has_scores_and_details():
    result = mr.ScoreResult("s", np.array([1.0, 2.0]), True, "s|x", {"p": np.array([3.0, 4.0])})
    frame = result.to_frame()
    assert list(frame.columns) == ["s", "s.p"]
    assert frame["s.p"].tolist() == [3.0, 4.0]


def test_entry_point_plugin_is_discovered(tmp_path, monkeypatch):
    pkg = tmp_path / "mr_plugin_demo.py"
    pkg.write_text(
        textwrap.dedent('''
        import metricrm as mr

        class Shout(mr.BaseScorer):
            """Counts exclamation marks."""
            name = "shout"

            def _score(self, responses, *, references, prompts, sources):
                return mr.ScoreOutput([r.count("!") for r in responses])
    ''')
    )
    dist = tmp_path / "mr_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mr-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[metricrm.scorers]\nshout = mr_plugin_demo:Shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_user", dict(registry._user))
    assert "shout" in mr.list_scorers()
    spec = mr.scorer_spec("shout")
    assert spec.origin == "plugin:mr_plugin_demo:Shout"
    assert spec.description == "Counts exclamation marks."
    np.testing.assert_array_equal(mr.get_scorer("shout").score(["a!", "b!!!"]).scores, [1.0, 3.0])


def test_import_is_light():
    """`import metricrm` and describing every scorer load no torch, transformers or matplotlib."""
    code = textwrap.dedent("""
        import sys
        import metricrm as mr
        for name in mr.list_scorers():
            mr.scorer_spec(name).description
        mr.get_scorer("chrf"); mr.get_scorer("bertscore_f1")
        heavy = [m for m in ("torch", "transformers", "matplotlib", "bert_score", "evaluate", "datasets") if m in sys.modules]
        print(",".join(heavy))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
