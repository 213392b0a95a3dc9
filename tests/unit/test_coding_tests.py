"""The coding item is graded by running the learner's functions against a reference.

Submissions are written here by hand: a correct one, the seed's heads-in-sequence layer, QK/OV
mix-ups, stubs, broken code and code that tampers with the grader inside the sandbox.
"""

from __future__ import annotations

import pytest

from core.assessment.coding import CASES, FUNCTIONS, TEMPLATE, TEST_TITLES, run_coding_tests
from core.sandbox import SandboxLimits

CORRECT = """
import math
import torch

def attention_pattern(x, W_Q, W_K):
    q = torch.einsum("sd,hkd->hsk", x, W_Q)
    k = torch.einsum("sd,hkd->hsk", x, W_K)
    scores = q @ k.transpose(-1, -2) / math.sqrt(W_Q.shape[1])
    seq = x.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)

def head_outputs(x, W_Q, W_K, W_V, W_O):
    A = attention_pattern(x, W_Q, W_K)
    v = torch.einsum("sd,hkd->hsk", x, W_V)
    return torch.einsum("hqs,hsk,hdk->hqd", A, v, W_O)

def attention_layer(x, W_Q, W_K, W_V, W_O):
    return head_outputs(x, W_Q, W_K, W_V, W_O).sum(0)

def qk_circuit(W_Q, W_K, head):
    return W_Q[head].T @ W_K[head]

def ov_circuit(W_V, W_O, head):
    return W_O[head] @ W_V[head]

def decompose(x0, layers):
    x, heads = x0, []
    for W_Q, W_K, W_V, W_O in layers:
        h = head_outputs(x, W_Q, W_K, W_V, W_O)
        heads.append(h)
        x = x + h.sum(0)
    return {"heads": torch.stack(heads), "final": x}
"""

# The seed's bug: each head's output is added to the stream before the next head reads it.
SEQUENTIAL = (
    CORRECT
    + """
def attention_layer(x, W_Q, W_K, W_V, W_O):
    stream = x
    for h in range(W_Q.shape[0]):
        out = head_outputs(stream, W_Q[h:h+1], W_K[h:h+1], W_V[h:h+1], W_O[h:h+1])[0]
        stream = stream + out
    return stream - x

def decompose(x0, layers):
    x, heads = x0, []
    for W_Q, W_K, W_V, W_O in layers:
        per_head = []
        for h in range(W_Q.shape[0]):
            out = head_outputs(x, W_Q[h:h+1], W_K[h:h+1], W_V[h:h+1], W_O[h:h+1])[0]
            per_head.append(out)
            x = x + out
        heads.append(torch.stack(per_head))
    return {"heads": torch.stack(heads), "final": x}
"""
)

# The bodies of the two circuit functions exchanged (the OV formula applied to W_Q, W_K …).
SWAPPED_BODIES = (
    CORRECT
    + """
def qk_circuit(W_Q, W_K, head):
    return W_K[head] @ W_Q[head]

def ov_circuit(W_V, W_O, head):
    return W_V[head].T @ W_O[head].T
"""
)

# Roles confused: query/key and read/write exchanged (the transposes).
TRANSPOSED = (
    CORRECT
    + """
def qk_circuit(W_Q, W_K, head):
    return W_K[head].T @ W_Q[head]

def ov_circuit(W_V, W_O, head):
    return (W_O[head] @ W_V[head]).T
"""
)

STUB_42 = """
import torch
def attention_pattern(x, W_Q, W_K): return 42
def attention_layer(x, W_Q, W_K, W_V, W_O): return 42
def qk_circuit(W_Q, W_K, head): return 42
def ov_circuit(W_V, W_O, head): return 42
def decompose(x0, layers): return 42
"""

STUB_ZEROS = """
import torch
def attention_pattern(x, W_Q, W_K): return torch.zeros(W_Q.shape[0], x.shape[0], x.shape[0])
def attention_layer(x, W_Q, W_K, W_V, W_O): return torch.zeros_like(x)
def qk_circuit(W_Q, W_K, head): return torch.zeros(W_Q.shape[2], W_Q.shape[2])
def ov_circuit(W_V, W_O, head): return torch.zeros(W_V.shape[2], W_V.shape[2])
def decompose(x0, layers):
    n, h = len(layers), layers[0][0].shape[0]
    return {"heads": torch.zeros(n, h, *x0.shape), "final": torch.zeros_like(x0)}
"""

# Imports the grader inside the sandbox and makes every comparison "pass", then returns zeros.
TAMPER = (
    STUB_ZEROS
    + """
import sys, numpy
sys.path.insert(0, "REPO")
try:
    import core.assessment.coding as ct
    for name in list(ct.REFERENCE):
        ct.REFERENCE[name] = lambda *a, **k: 0
    ct._compare = lambda *a, **k: None
    ct._close = lambda *a, **k: True
    print("patched the grader")
except Exception:
    pass
numpy.allclose = lambda *a, **k: True
numpy.testing.assert_allclose = lambda *a, **k: None
"""
)


@pytest.fixture(scope="module")
def correct():
    return run_coding_tests(CORRECT, execute=True)


@pytest.fixture(scope="module")
def sequential():
    return run_coding_tests(SEQUENTIAL, execute=True)


def _status(report) -> dict[str, str]:
    return {t.name: t.status for t in report.tests}


def test_correct_submission_passes_every_test_on_every_case(correct):
    assert correct.executed and correct.sandbox.ok
    assert all(t.passed for t in correct.tests), [t.message for t in correct.failed]
    assert correct.score == 1.0
    assert all(
        "5 random cases" in t.message or "4 random cases" in t.message
        for t in correct.tests
        if t.name != "attention_layer_head_order"
    )


def test_sequential_heads_fail_the_layer_and_the_decomposition(sequential):
    status = _status(sequential)
    for name in (
        "attention_layer_values",
        "attention_layer_head_order",
        "decompose_final",
        "decompose_heads",
    ):
        assert status[name] == "failed", name
    # The sum identity still holds for heads in sequence (every write is added), as the lesson says.
    assert status["decompose_sums"] == "passed"
    for name in ("attention_pattern_values", "qk_circuit_values", "ov_circuit_values"):
        assert status[name] == "passed"
    order = next(t for t in sequential.tests if t.name == "attention_layer_head_order")
    assert "reverse order" in order.message and "max |difference|" in order.message


def test_sequential_heads_differ_far_beyond_the_tolerance(sequential):
    layer = next(t for t in sequential.tests if t.name == "attention_layer_values")
    diff = float(layer.message.split("max |difference| ")[1].split(";")[0])
    assert diff > 1e-2  # the tolerance is ≈1e-5 of the values' size


@pytest.mark.parametrize(
    "code, hint", [(SWAPPED_BODIES, "each other's circuit"), (TRANSPOSED, "transpose")]
)
def test_qk_ov_mixups_fail_the_circuit_tests(code, hint):
    report = run_coding_tests(code, execute=True)
    status = _status(report)
    assert status["qk_circuit_values"] == "failed"
    assert status["ov_circuit_values"] == "failed"
    assert status["circuits_not_swapped"] == "failed"
    assert status["attention_layer_values"] == "passed"
    swapped = next(t for t in report.tests if t.name == "circuits_not_swapped")
    if code is TRANSPOSED:
        assert hint in swapped.message
    else:  # the bodies only run where d_head == d_model; elsewhere they raise a shape error
        qk = next(t for t in report.tests if t.name == "qk_circuit_values")
        assert "qk_circuit" in qk.message


def test_stub_returning_42_fails_everything_with_a_clear_message():
    report = run_coding_tests(STUB_42, execute=True)
    assert report.n_passed == 0
    pattern = next(t for t in report.tests if t.name == "attention_pattern_values")
    assert pattern.message.startswith("attention_pattern: expected shape [1, 1, 1], got []")
    dec = next(t for t in report.tests if t.name == "decompose_final")
    assert "expected a dict" in dec.message


def test_zero_stub_fails_with_the_first_differing_entry():
    report = run_coding_tests(STUB_ZEROS, execute=True)
    status = _status(report)
    assert status["attention_pattern_causal"] == "failed"
    assert status["circuits_not_swapped"] == "failed"
    # Zeros are the same in any head order, but a wrong layer earns no credit for that.
    assert status["attention_layer_head_order"] == "failed"
    causal = next(t for t in report.tests if t.name == "attention_pattern_causal")
    assert "sums to 0, not 1" in causal.message
    assert status["decompose_final"] == "failed"
    layer = next(t for t in report.tests if t.name == "attention_layer_values")
    assert "first differing entry [0, 0]" in layer.message and "got 0" in layer.message
    assert CASES[0].label in layer.message


def test_syntax_error_is_reported_per_test_with_its_line():
    report = run_coding_tests(
        "import torch\n\ndef attention_pattern(x, W_Q, W_K)\n    return x\n", execute=True
    )
    assert report.n_passed == 0
    for t in report.tests:
        assert t.status == "failed" and "SyntaxError" in t.message and "line 3" in t.message


def test_missing_functions_are_named_per_test():
    code = CORRECT.split("def decompose")[0]  # everything except decompose
    report = run_coding_tests(code, execute=True)
    status = _status(report)
    assert status["attention_layer_values"] == "passed"
    dec = next(t for t in report.tests if t.name == "decompose_final")
    assert dec.status == "failed" and "decompose is not defined" in dec.message


def test_an_exception_in_one_function_fails_only_its_tests_without_harness_frames():
    code = CORRECT + "\ndef qk_circuit(W_Q, W_K, head):\n    raise ValueError('oops')\n"
    report = run_coding_tests(code, execute=True)
    qk = next(t for t in report.tests if t.name == "qk_circuit_values")
    assert qk.message.startswith("qk_circuit raised ValueError: oops (line ")
    assert "sandbox_child" not in qk.message and "Traceback" not in qk.message
    assert _status(report)["ov_circuit_values"] == "passed"


def test_template_runs_and_fails_with_not_implemented():
    report = run_coding_tests(TEMPLATE, execute=True)
    assert report.n_passed == 0
    assert all("NotImplementedError" in t.message for t in report.tests)
    for name in FUNCTIONS:
        assert f"def {name}(" in TEMPLATE


def test_tampering_with_the_grader_inside_the_sandbox_changes_nothing():
    from pathlib import Path

    repo = str(Path(__file__).resolve().parents[2])
    # Leave the app's folder visible in the child, so that the import and the patches succeed.
    limits = SandboxLimits(hide_paths=())
    report = run_coding_tests(TAMPER.replace("REPO", repo), execute=True, limits=limits)
    assert "patched the grader" in report.sandbox.stdout
    status = _status(report)
    assert status["attention_layer_values"] == "failed"
    assert status["decompose_final"] == "failed"
    assert report.score < 0.5


def test_without_execution_every_test_is_not_run_with_the_reason_and_structure():
    report = run_coding_tests(CORRECT, execute=False)
    assert not report.executed and report.score == 0.0 and report.sandbox is None
    assert [t.name for t in report.tests] == list(TEST_TITLES)
    assert all(t.status == "not run" and "switched off" in t.message for t in report.tests)
    assert report.not_run_reason and report.structural is not None and report.structural.parsed
    checks = report.structural.checks
    assert all(checks[f"defines_{name}"].found for name in FUNCTIONS)
    assert checks["causal_softmax"].found


def test_structural_fallback_tells_the_template_from_an_implementation():
    template = run_coding_tests(TEMPLATE, execute=False).structural.checks
    assert not any(template[f"defines_{name}"].found for name in FUNCTIONS)
    assert "no implementation yet" in template["defines_decompose"].detail
    assert "no softmax" in template["causal_softmax"].detail
    wrong_arity = CORRECT.replace("def qk_circuit(W_Q, W_K, head)", "def qk_circuit(W_Q, W_K)")
    checks = run_coding_tests(wrong_arity, execute=False).structural.checks
    assert not checks["defines_qk_circuit"].found
    assert "takes 2 arguments; the interface passes 3" in checks["defines_qk_circuit"].detail
    unmasked = CORRECT.replace(
        "    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)\n"
        '    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)',
        "    return torch.softmax(scores, dim=-1)",
    )
    assert unmasked != CORRECT
    checks = run_coding_tests(unmasked, execute=False).structural.checks
    assert (
        not checks["causal_softmax"].found and "no causal mask" in checks["causal_softmax"].detail
    )


def test_structural_fallback_gives_a_stub_nothing_and_names_the_sequential_loop():
    stub = run_coding_tests(STUB_ZEROS, execute=False).structural.checks
    assert not any(stub[f"defines_{name}"].found for name in FUNCTIONS)
    assert "computes no product of its inputs" in stub["defines_decompose"].detail
    assert not stub["heads_read_same_input"].found
    seq = run_coding_tests(SEQUENTIAL, execute=False).structural.checks
    assert all(seq[f"defines_{name}"].found for name in FUNCTIONS)
    assert not seq["heads_read_same_input"].found
    assert "stream is both the input of a head and updated" in seq["heads_read_same_input"].detail
    assert run_coding_tests(CORRECT, execute=False).structural.checks["heads_read_same_input"].found


def test_too_long_code_is_not_run():
    report = run_coding_tests("#" * 60_000, execute=True)
    assert not report.executed and "limit" in report.not_run_reason
