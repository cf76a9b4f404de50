"""Text prompts: {text: ...} in a contract, tokenized by the model's own tokenizer at run time,
the ids and the tokenizer digest in the report; `harness run --text` and `--decode`."""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

from backends.model.errors import ModelFormatError
from backends.model.tokenizer import load_tokenizer
from backends.null_backend import NullBackend
from harness.cli import main
from harness.contract.loader import check_file
from harness.contract.model import TextPrompt
from harness.model_store import ModelStore
from harness.runner import Runner
from tests.conftest import MODEL_SEED
from tests.contract_text import edit, gpu_text, line_of, write
from tests.engine_support import LAVAPIPE, NULL_NAMES, document, falsifier, write_contract

TEXT = "The capital of France is"
DET, ORC = "FALSIFY-T-DET-001", "FALSIFY-T-ORACLE-001"


def _doc(falsifiers, prompts):
    doc = document(falsifiers)
    doc["prompts"] = prompts
    doc["models"]["specs"]["tiny"] = {"synthetic": {"preset": "tiny", "seed": MODEL_SEED}}
    return doc


def _det(prompts):
    return falsifier(
        DET, "determinism", {"prompts": prompts, "runs": 2}, [("max_abs_diff", "<=", 0.0)], ["cpu-reference"]
    )


# -- the contract format -----------------------------------------------------------------------
def test_text_prompt_loads_beside_id_prompts(tmp_path):
    text = edit(gpu_text(), "  single: [404]\n", f'  single: [404]\n  capital: {{text: "{TEXT}"}}\n')
    contract, issues = check_file(write(tmp_path, text))
    assert contract is not None, [str(i) for i in issues]
    assert contract.prompts["capital"] == TextPrompt(TEXT) and contract.prompts["single"] == (404,)


@pytest.mark.parametrize(
    "new, path, expect",
    [
        ('  capital: {text: ""}\n', "$.prompts.capital.text", "non-empty"),
        ('  capital: {txt: "x"}\n', "$.prompts.capital.txt", "did you mean 'text'"),
        ('  capital: "The capital"\n', "$.prompts.capital", "{text:"),
        ("  capital: []\n", "$.prompts.capital", "non-empty list of token ids"),
    ],
)
def test_bad_text_prompt_is_a_contract_error_at_its_line(tmp_path, new, path, expect):
    text = edit(gpu_text(), "  single: [404]\n", "  single: [404]\n" + new)
    contract, issues = check_file(write(tmp_path, text))
    assert contract is None
    match = [i for i in issues if i.path == path]
    assert match, [str(i) for i in issues]
    assert expect in match[0].message or expect in str(match[0]), str(match[0])
    assert match[0].line == line_of(text, new.strip().split(":")[0] + ":")


# -- the engine --------------------------------------------------------------------------------
def _runner(contract, tiny_model_path, **store):
    models = ModelStore(contract, synth=lambda preset, seed: tiny_model_path, **store)
    return Runner(contract, adapters=[LAVAPIPE], backend_names=NULL_NAMES, models=models)


def test_runner_tokenizes_text_and_records_ids_and_digest(tmp_path, tiny_model_path, tiny_model):
    contract = write_contract(tmp_path, _doc([_det(["capital", "a"])], {"capital": {"text": TEXT}, "a": [1, 2, 3]}))
    result = _runner(contract, tiny_model_path).run()
    (job,) = result.jobs
    assert job["verdict"] == "PASS", job["reason"]
    tok = load_tokenizer(tiny_model)
    recorded = result.models["tiny"]
    assert recorded["prompt_tokens"] == {"capital": tok.encode(TEXT)}
    assert recorded["tokenizer"]["sha256"] == tok.sha256
    assert recorded["tokenizer"]["model"] == "gpt2" and recorded["tokenizer"]["pre"] == "qwen2"


def _oracle_fixture(path, tiny_model, tokens):
    logits = NullBackend(tiny_model).trace(tokens).logits
    np.savez(path, **{"capital/tokens": np.array(tokens), "capital/logits": logits})
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_oracle_on_a_text_prompt_catches_a_wrong_tokenization(tmp_path, tiny_model_path, tiny_model):
    tokens = load_tokenizer(tiny_model).encode(TEXT)
    digest = _oracle_fixture(tmp_path / "f.npz", tiny_model, tokens)
    orc = falsifier(
        ORC,
        "oracle",
        {"fixture": "f.npz", "sha256": digest, "prompts": ["capital"]},
        [("cosine_min", ">=", 0.999)],
        ["cpu-reference"],
    )
    contract = write_contract(tmp_path, _doc([orc], {"capital": {"text": TEXT}}))
    (good,) = _runner(contract, tiny_model_path).run().jobs
    assert good["verdict"] == "PASS", good["reason"]

    def byte_tokenizer(model):  # planted bug: one id per byte, no merges applied
        real = load_tokenizer(model)
        return SimpleNamespace(encode=lambda text: list(text.encode()), describe=real.describe)

    (bad,) = _runner(contract, tiny_model_path, tokenizer=byte_tokenizer).run().jobs
    assert bad["verdict"] == "FAIL" and "capital/tokens differ" in bad["reason"]


def test_text_prompt_on_a_model_without_tokenizer_is_error(tmp_path, tiny_model_path):
    def none(model):
        raise ModelFormatError("m.gguf: no tokenizer.ggml.model key")

    contract = write_contract(tmp_path, _doc([_det(["capital"])], {"capital": {"text": TEXT}}))
    (job,) = _runner(contract, tiny_model_path, tokenizer=none).run().jobs
    assert job["verdict"] == "ERROR" and "no tokenizer.ggml.model key" in job["reason"]


def test_verify_report_records_text_its_ids_and_tokenizer(tmp_path, tiny_model, capsys):
    contract = tmp_path / "c.yaml"
    contract.write_text(json.dumps(_doc([_det(["capital"])], {"capital": {"text": TEXT}})))
    code = main(["verify", str(contract), "--device", "cpu-reference", "--format", "json"])
    predicate = json.loads(capsys.readouterr().out)["predicate"]
    assert code == 0
    tok = load_tokenizer(tiny_model)
    assert predicate["prompts"] == {"capital": {"text": TEXT}}
    assert predicate["models"]["tiny"]["prompt_tokens"]["capital"] == tok.encode(TEXT)
    assert predicate["models"]["tiny"]["tokenizer"]["sha256"] == tok.sha256


# -- harness run --text / --decode ------------------------------------------------------------
def _run_json(capsys, *argv):
    code = main(["run", "--preset", "tiny", "--seed", str(MODEL_SEED), "--backend", "cpu", "--format", "json", *argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if code == 0 else out.err)


def test_run_text_uses_the_files_tokenizer_and_decode_shows_text(capsys, tiny_model):
    tok = load_tokenizer(tiny_model)
    code, by_text = _run_json(capsys, "--text", TEXT, "--decode", "--generate", "2", "--top", "2")
    assert code == 0
    assert by_text["tokens"] == tok.encode(TEXT) and by_text["tokenizer"]["sha256"] == tok.sha256
    assert by_text["decoded"]["prompt"] == TEXT
    assert "".join(by_text["decoded"]["tokens"]) == TEXT
    assert by_text["decoded"]["generated"] == tok.decode(by_text["generated"])
    assert by_text["decoded"]["top"][0][0] == tok.decode([by_text["top"][0][0]["id"]])
    code, by_ids = _run_json(capsys, "--tokens", ",".join(map(str, tok.encode(TEXT))), "--top", "2")
    assert code == 0 and by_ids["top"] == by_text["top"]  # same ids, same logits
    assert "decoded" not in by_ids


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--text", ""], "--text: empty prompt"),
        (["--text", "x", "--tokens", "1"], "not allowed with argument"),
    ],
)
def test_run_text_usage_errors_exit_2(capsys, argv, needle):
    try:
        code, err = _run_json(capsys, *argv)
    except SystemExit as exc:  # argparse refuses the pair before run() starts
        code, err = exc.code, capsys.readouterr().err
    assert code == 2 and needle in err
