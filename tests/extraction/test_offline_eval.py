"""The labelled evaluation of the offline extractor and its management command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from extraction.evaluation.offline_eval import DEFAULT_SET, evaluate_offline, load_cases


def test_checked_in_set_is_balanced_and_labelled():
    cases = load_cases(DEFAULT_SET)
    assert len(cases) >= 40
    langs = [c["lang"] for c in cases]
    assert 0.4 <= langs.count("zh") / len(cases) <= 0.6
    assert len({c["id"] for c in cases}) == len(cases)
    negatives = [c for c in cases if not c["expect_skill"]]
    assert len(negatives) >= 0.3 * len(cases)
    assert all(c["expect_keywords"] for c in cases if c["expect_skill"])


def test_quality_gate_on_checked_in_set():
    """Precision >= 0.85 and recall >= 0.8 overall, and every produced skill validates."""
    report = evaluate_offline(DEFAULT_SET)
    assert report["precision"] >= 0.85
    assert report["recall"] >= 0.8
    assert report["invalid"] == []
    for lang in ("en", "zh"):
        assert report["by_lang"][lang]["precision"] >= 0.85
    assert report["keyword_hit_rate"] >= 0.8


def test_scores_count_both_kinds_of_error(tmp_path: Path):
    """A wrongly labelled small-talk case and a missed procedure both show up."""
    rows = [
        {
            "id": "a",
            "lang": "en",
            "messages": [{"role": "user", "content": "thanks!"}],
            "expect_skill": True,
            "expect_keywords": ["x"],
        },
        {
            "id": "b",
            "lang": "en",
            "messages": [
                {
                    "role": "user",
                    "content": "Before each release: test -> canary -> rollout",
                }
            ],
            "expect_skill": False,
        },
        {
            "id": "c",
            "lang": "zh",
            "messages": [
                {"role": "user", "content": "每次发版前：回归测试 -> 灰度 -> 全量"}
            ],
            "expect_skill": True,
            "expect_keywords": ["灰度", "不存在"],
        },
    ]
    path = tmp_path / "set.jsonl"
    path.write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8"
    )
    report = evaluate_offline(path)
    assert (report["tp"], report["fp"], report["fn"], report["tn"]) == (1, 1, 1, 0)
    assert report["precision"] == 0.5
    assert report["recall"] == 0.5
    assert sorted(report["misclassified"]) == ["a", "b"]
    assert report["keyword_hit_rate"] == 0.5
    assert report["by_lang"]["zh"]["recall"] == 1.0


def test_malformed_line_is_reported(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="line 1: missing"):
        load_cases(path)


def test_command_prints_precision_and_recall():
    out = io.StringIO()
    call_command("eval_offline_extractor", stdout=out)
    text = out.getvalue()
    assert "precision" in text and "recall" in text
    for label in ("overall", "en", "zh"):
        assert any(line.startswith(label) for line in text.splitlines())
    assert "Misclassified:" in text


def test_command_json_output():
    out = io.StringIO()
    call_command("eval_offline_extractor", "--json", stdout=out)
    report = json.loads(out.getvalue())
    assert set(report["by_lang"]) == {"en", "zh"}
    assert 0.0 <= report["f1"] <= 1.0


def test_command_rejects_missing_file(tmp_path: Path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("eval_offline_extractor", str(tmp_path / "missing.jsonl"))
