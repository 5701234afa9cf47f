"""facegate.rules: the CLI's rules (facegate rules --json), one model, another rules file."""

import json
import subprocess

import pytest

import facegate
from conftest import MODEL


def test_rules_are_the_clis(facegate_exe):
    result = subprocess.run([facegate_exe, "rules", "--json"], capture_output=True, text=True,
                            check=True)
    models = json.loads(result.stdout)["models"]
    rules = facegate.rules()
    assert list(rules) == [model["name"] for model in models]
    assert list(rules.values()) == models


def test_version_is_the_clis(facegate_exe):
    result = subprocess.run([facegate_exe, "--version"], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == f"facegate {facegate.__version__}"
    assert facegate.__version__.count(".") == 2


def test_one_model():
    wan = facegate.rules(MODEL)
    assert wan["name"] == MODEL
    assert wan["pixels"]["min_width"] == 400
    assert "lifecycle" not in wan
    assert facegate.rules("liveportrait-detect")["lifecycle"]["retired"] == "2026-10-10"
    with pytest.raises(facegate.UsageError, match="unknown model"):
        facegate.rules("no-such-model")


def test_another_rules_file(tmp_path):
    one_model = {"schema": 1, "models": [facegate.rules(MODEL)]}
    path = tmp_path / "rules.json"
    path.write_text(json.dumps(one_model))
    assert list(facegate.rules(rules_file=str(path))) == [MODEL]
    path.write_text('{"schema": 2, "models": []}')
    with pytest.raises(facegate.RulesError, match="schema"):
        facegate.rules(rules_file=str(path))
    with pytest.raises(facegate.RulesError):
        facegate.rules(rules_file=str(tmp_path / "missing.json"))
