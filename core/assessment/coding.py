"""The coding item: an interface the learner implements, graded by running it against a reference.

The learner writes five plain functions on torch tensors (:data:`INTERFACE_DOC`, :data:`TEMPLATE`).
:func:`run_coding_tests` builds inputs here, in the trusted parent, for several seeds and shapes,
calls the learner's functions in the sandbox (:mod:`core.sandbox`), and compares what came back
with :data:`REFERENCE` (written here, independent of :mod:`core.model`) and with properties a
structural check cannot see: heads read the same input (permuting them changes nothing), QK and
OV are not confused, patterns are causal and normalised, the decomposition sums to the final
stream and that stream is the right one. Only the learner's outputs come back from the child;
expected values never leave this process.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.assessment.common import NOT_ANSWERED, type_error
from core.assessment.interface import FUNCTIONS, INTERFACE_DOC, SUITE, TEMPLATE
from core.assessment.schema import CodingItem
from core.assessment.structure import (
    CHECKS,
    MAX_CODE_CHARS,
    CodeAnalysis,
    analyze_code,
    same_as_template,
    too_long_message,
)
from core.sandbox import DEFAULT_LIMITS, CallOutput, SandboxLimits, SandboxResult, run_learner_code

__all__ = [
    "INTERFACE_DOC",
    "TEMPLATE",
    "REFERENCE",
    "FUNCTIONS",
    "SUITE",
    "TestCase",
    "CASES",
    "grade_coding",
    "grade_structure",
    "MAX_CODE_CHARS",
    "CodingTestResult",
    "CodingReport",
    "run_coding_tests",
    "TEST_TITLES",
]


# --- reference (independent of core.model) ---------------------------------------------------


def _ref_pattern(x: torch.Tensor, W_Q: torch.Tensor, W_K: torch.Tensor) -> torch.Tensor:
    d_head = W_Q.shape[1]
    q = torch.einsum("sd,hkd->hsk", x, W_Q)  # [head, seq, d_head]
    k = torch.einsum("sd,hkd->hsk", x, W_K)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d_head)  # [head, query, key]
    seq = x.shape[0]
    future = torch.ones(seq, seq, dtype=torch.bool).triu(1)
    return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)


def _ref_head_outputs(x, W_Q, W_K, W_V, W_O) -> torch.Tensor:
    """Each head's output [head, seq, d_model] = A · x · OVᵀ, all heads reading x."""
    A = _ref_pattern(x, W_Q, W_K)
    ov = torch.einsum("hdk,hke->hde", W_O, W_V)  # [head, d_model, d_model]
    return torch.einsum("hqs,se,hde->hqd", A, x, ov)


def _ref_layer(x, W_Q, W_K, W_V, W_O) -> torch.Tensor:
    return _ref_head_outputs(x, W_Q, W_K, W_V, W_O).sum(0)


def _ref_qk(W_Q, W_K, head: int) -> torch.Tensor:
    return W_Q[head].T @ W_K[head]


def _ref_ov(W_V, W_O, head: int) -> torch.Tensor:
    return W_O[head] @ W_V[head]


def _ref_decompose(x0, layers) -> dict[str, torch.Tensor]:
    x, heads = x0, []
    for W_Q, W_K, W_V, W_O in layers:
        h = _ref_head_outputs(x, W_Q, W_K, W_V, W_O)
        heads.append(h)
        x = x + h.sum(0)
    return {"heads": torch.stack(heads), "final": x}


REFERENCE: dict[str, Callable] = {
    "attention_pattern": _ref_pattern,
    "attention_layer": _ref_layer,
    "qk_circuit": _ref_qk,
    "ov_circuit": _ref_ov,
    "decompose": _ref_decompose,
}


# --- inputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCase:
    seed: int
    seq: int
    d_model: int
    n_head: int
    d_head: int
    n_layer: int

    @property
    def label(self) -> str:
        return (
            f"seed {self.seed}: seq {self.seq}, d_model {self.d_model}, {self.n_head} "
            f"head{'s' if self.n_head > 1 else ''} of d_head {self.d_head}, "
            f"{self.n_layer} layer{'s' if self.n_layer > 1 else ''}"
        )


#: Shapes: one token; d_head == d_model (so a QK/OV mix-up still has the right shape); several
#: heads and layers (so heads in sequence differ from heads in parallel).
CASES: tuple[TestCase, ...] = (
    TestCase(0, 1, 8, 1, 4, 1),
    TestCase(1, 5, 16, 2, 8, 2),
    TestCase(2, 9, 32, 4, 8, 3),
    TestCase(3, 5, 8, 2, 8, 2),
    TestCase(4, 9, 24, 3, 6, 2),
)


def _weights(case: TestCase, gen: torch.Generator):
    """Weights large enough that attention is far from uniform and each head's write is of the
    stream's size, so that reading a half-updated stream changes results by ≫ the tolerance."""
    h, dh, d = case.n_head, case.d_head, case.d_model

    def w(*shape, std):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * std

    layers = []
    for _ in range(case.n_layer):
        layers.append(
            (
                w(h, dh, d, std=1.5 / math.sqrt(d)),
                w(h, dh, d, std=1.5 / math.sqrt(d)),
                w(h, dh, d, std=1.0 / math.sqrt(d)),
                w(h, d, dh, std=1.0 / math.sqrt(dh)),
            )
        )
    return layers


@dataclass(frozen=True)
class _Prepared:
    case: TestCase
    x: torch.Tensor
    layers: list
    perm: list[int]
    head: int
    calls: dict[str, int]  # call name → index in the sandbox call list


def _prepare(cases: Sequence[TestCase]) -> tuple[list[_Prepared], list[dict]]:
    prepared, calls = [], []

    def add(function: str, *args) -> int:
        calls.append({"function": function, "args": list(args)})
        return len(calls) - 1

    for case in cases:
        gen = torch.Generator().manual_seed(1000 + case.seed)
        x = torch.randn(case.seq, case.d_model, generator=gen, dtype=torch.float64)
        layers = _weights(case, gen)
        W_Q, W_K, W_V, W_O = layers[0]
        perm = list(reversed(range(case.n_head)))
        head = case.n_head - 1
        idx = {
            "attention_pattern": add("attention_pattern", x, W_Q, W_K),
            "attention_layer": add("attention_layer", x, W_Q, W_K, W_V, W_O),
            "qk_circuit": add("qk_circuit", W_Q, W_K, head),
            "ov_circuit": add("ov_circuit", W_V, W_O, head),
            "decompose": add("decompose", x, [tuple(l) for l in layers]),
        }
        if case.n_head > 1:
            idx["attention_layer_permuted"] = add(
                "attention_layer", x, W_Q[perm], W_K[perm], W_V[perm], W_O[perm]
            )
        prepared.append(_Prepared(case, x, layers, perm, head, idx))
    return prepared, calls


# --- comparison ------------------------------------------------------------------------------

RTOL = 1e-4
ATOL = 1e-6


def _shape(a: np.ndarray) -> str:
    return "[" + ", ".join(str(n) for n in a.shape) + "]"


def _compare(got, expected: np.ndarray, what: str = "") -> str | None:
    """None when ``got`` matches ``expected`` within tolerance; otherwise one short sentence."""
    if not isinstance(got, np.ndarray):
        return f"expected a tensor of shape {_shape(expected)}{what}, got a dict"
    if got.shape != expected.shape:
        return f"expected shape {_shape(expected)}{what}, got {_shape(got)}"
    if got.size == 0:
        return None
    atol = ATOL + 1e-5 * float(np.abs(expected).max())
    bad = ~(np.abs(got - expected) <= atol + RTOL * np.abs(expected))  # NaN counts as bad
    if not bad.any():
        return None
    diff = np.where(np.isfinite(got), np.abs(got - expected), np.inf)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return (
        f"max |difference| {float(diff.max()):.3g}{what}; first differing entry "
        f"{list(first)}: expected {expected[first]:.4g}, got {got[first]:.4g}"
    )


def _close(a, b) -> bool:
    return isinstance(a, np.ndarray) and a.shape == b.shape and _compare(a, b) is None


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodingTestResult:
    name: str
    title: str
    status: str  # "passed", "failed" or "not run"
    message: str  # what was checked, or what was expected and what came back

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@dataclass(frozen=True)
class CodingReport:
    executed: bool
    tests: tuple[CodingTestResult, ...]
    not_run_reason: str | None = None
    structural: CodeAnalysis | None = None  # today's structural rubric, for context
    sandbox: SandboxResult | None = None

    @property
    def n_passed(self) -> int:
        return sum(t.passed for t in self.tests)

    @property
    def score(self) -> float:
        """Fraction of tests passed (0 when nothing ran)."""
        return self.n_passed / len(self.tests) if self.executed and self.tests else 0.0

    @property
    def failed(self) -> tuple[CodingTestResult, ...]:
        return tuple(t for t in self.tests if t.status == "failed")


TEST_TITLES: dict[str, str] = {
    "attention_pattern_values": "attention_pattern matches the reference",
    "attention_pattern_causal": "attention_pattern: rows sum to 1, nothing above the diagonal",
    "attention_layer_values": "attention_layer matches the reference (heads in parallel)",
    "attention_layer_head_order": "attention_layer: reordering the heads changes nothing",
    "qk_circuit_values": "qk_circuit = W_Q[head]ᵀ W_K[head]",
    "ov_circuit_values": "ov_circuit = W_O[head] W_V[head]",
    "circuits_not_swapped": "QK and OV circuits are not swapped or transposed",
    "decompose_sums": "decompose: x0 + Σ heads equals its final stream",
    "decompose_final": "decompose: the final stream equals the reference forward pass",
    "decompose_heads": "decompose: each head's output matches the reference",
}


def _output_problem(out: CallOutput, function: str) -> str | None:
    if out.ok:
        return None
    err = out.error or "no result"
    if err.startswith("not run"):
        return f"{function} {err}"
    if err.endswith("is not defined"):
        return f"{function} is not defined in your code"
    return f"{function} raised {err}"


def _get(out: CallOutput, key: str, function: str):
    """(value, problem) for ``out`` or, for a dict result, its ``key``."""
    problem = _output_problem(out, function)
    if problem:
        return None, problem
    if key:
        if not isinstance(out.value, dict):
            return None, f'{function} returned a tensor; expected a dict with "heads" and "final"'
        if key not in out.value:
            keys = ", ".join(repr(k) for k in out.value) or "no keys"
            return None, f'{function} returned a dict without "{key}" (it has {keys})'
    elif isinstance(out.value, dict):
        return None, f"{function} returned a dict; expected a tensor"
    return (out.value[key] if key else out.value), None


def _evaluate(prepared: list[_Prepared], outputs: Sequence[CallOutput]) -> list[CodingTestResult]:
    failures: dict[str, str | None] = dict.fromkeys(TEST_TITLES)
    checked: dict[str, int] = dict.fromkeys(TEST_TITLES, 0)

    def fail(name: str, case: TestCase, msg: str) -> None:
        checked[name] += 1
        if failures[name] is None:
            failures[name] = f"{msg} ({case.label})"

    def ok(name: str) -> None:
        checked[name] += 1

    def np_(t: torch.Tensor) -> np.ndarray:
        return t.detach().numpy()

    for p in prepared:
        c = p.case
        W_Q, W_K, W_V, W_O = p.layers[0]
        out = {k: outputs[i] for k, i in p.calls.items()}

        # attention_pattern
        got, problem = _get(out["attention_pattern"], "", "attention_pattern")
        expected = np_(_ref_pattern(p.x, W_Q, W_K))
        for name in ("attention_pattern_values", "attention_pattern_causal"):
            if problem:
                fail(name, c, problem)
        if not problem:
            msg = _compare(got, expected)
            fail("attention_pattern_values", c, f"attention_pattern: {msg}") if msg else ok(
                "attention_pattern_values"
            )
            if got.shape != expected.shape:
                fail(
                    "attention_pattern_causal",
                    c,
                    f"attention_pattern: expected shape {_shape(expected)}, got {_shape(got)}",
                )
            else:
                rows = got.sum(-1)  # [head, query]
                upper = np.triu(np.ones((c.seq, c.seq), dtype=bool), 1)
                worst = np.unravel_index(int(np.abs(rows - 1).argmax()), rows.shape)
                above = float(np.abs(got[:, upper]).max()) if upper.any() else 0.0
                if not np.isfinite(got).all():
                    fail("attention_pattern_causal", c, "attention_pattern has NaN or inf entries")
                elif abs(rows[worst] - 1) > 1e-5:
                    fail(
                        "attention_pattern_causal",
                        c,
                        f"row {int(worst[1])} of head {int(worst[0])} of attention_pattern sums "
                        f"to {rows[worst]:.4g}, not 1 (softmax over the keys, the last axis)",
                    )
                elif above > 1e-6:
                    fail(
                        "attention_pattern_causal",
                        c,
                        f"attention_pattern puts {above:.3g} above the diagonal: a position "
                        f"attends to a later one (apply the causal mask before the softmax)",
                    )
                else:
                    ok("attention_pattern_causal")

        # attention_layer and head order
        got, problem = _get(out["attention_layer"], "", "attention_layer")
        if problem:
            fail("attention_layer_values", c, problem)
        else:
            msg = _compare(got, np_(_ref_layer(p.x, W_Q, W_K, W_V, W_O)))
            if msg:
                fail("attention_layer_values", c, f"attention_layer: {msg}")
            else:
                ok("attention_layer_values")
        if "attention_layer_permuted" in out:
            got_p, problem_p = _get(out["attention_layer_permuted"], "", "attention_layer")
            if problem or problem_p:
                fail("attention_layer_head_order", c, problem or problem_p)
            elif got.shape != (c.seq, c.d_model):
                fail(
                    "attention_layer_head_order",
                    c,
                    f"attention_layer: expected shape [{c.seq}, {c.d_model}], got {_shape(got)}",
                )
            else:
                msg = _compare(got_p, got)
                if msg:
                    fail(
                        "attention_layer_head_order",
                        c,
                        f"with the heads in reverse order attention_layer gave a different "
                        f"result: {msg.replace('expected', 'original')} (do all heads read "
                        f"the same x?)",
                    )
                elif not _close(got, np_(_ref_layer(p.x, W_Q, W_K, W_V, W_O))):
                    # Order-independent but wrong (e.g. zeros): the property proves nothing.
                    fail(
                        "attention_layer_head_order",
                        c,
                        "attention_layer gives the same result in any head order, but not the "
                        "right one (see the test above)",
                    )
                else:
                    ok("attention_layer_head_order")

        # circuits
        qk_ref, ov_ref = np_(_ref_qk(W_Q, W_K, p.head)), np_(_ref_ov(W_V, W_O, p.head))
        qk, qk_problem = _get(out["qk_circuit"], "", "qk_circuit")
        ov, ov_problem = _get(out["ov_circuit"], "", "ov_circuit")
        for name, got, problem, ref, fn in (
            ("qk_circuit_values", qk, qk_problem, qk_ref, "qk_circuit"),
            ("ov_circuit_values", ov, ov_problem, ov_ref, "ov_circuit"),
        ):
            if problem:
                fail(name, c, problem)
                continue
            msg = _compare(got, ref, f" for head {p.head}")
            fail(name, c, f"{fn}: {msg}") if msg else ok(name)
        if qk_problem or ov_problem:
            fail("circuits_not_swapped", c, qk_problem or ov_problem)
        else:
            swap = None
            if _close(qk, ov_ref) or _close(ov, qk_ref):
                swap = "qk_circuit and ov_circuit compute each other's circuit"
            elif _close(qk, qk_ref.T):
                swap = (
                    "qk_circuit returned W_K[head]ᵀ W_Q[head], the transpose: query and key swapped"
                )
            elif _close(ov, ov_ref.T):
                swap = "ov_circuit returned (W_O W_V)ᵀ, the transpose: reading and writing swapped"
            elif _close(qk, ov):
                swap = "qk_circuit and ov_circuit returned the same matrix for different weights"
            elif not (_close(qk, qk_ref) and _close(ov, ov_ref)):
                swap = "qk_circuit or ov_circuit does not match its circuit (see the tests above)"
            fail("circuits_not_swapped", c, swap) if swap else ok("circuits_not_swapped")

        # decompose
        ref = _ref_decompose(p.x, p.layers)
        heads, problem = _get(out["decompose"], "heads", "decompose")
        final, problem_f = _get(out["decompose"], "final", "decompose")
        problem = problem or problem_f
        if problem:
            for name in ("decompose_sums", "decompose_final", "decompose_heads"):
                fail(name, c, problem)
            continue
        exp_heads = np_(ref["heads"])
        if heads.shape != exp_heads.shape:
            fail(
                "decompose_sums",
                c,
                f'decompose: "heads" should have shape {_shape(exp_heads)}, got {_shape(heads)}',
            )
        else:
            msg = _compare(final, np_(p.x) + heads.sum((0, 1)))
            fail(
                "decompose_sums",
                c,
                f'"final" differs from x0 + Σ "heads": {msg.replace("expected", "sum")}',
            ) if msg else ok("decompose_sums")
        msg = _compare(final, np_(ref["final"]))
        fail(
            "decompose_final",
            c,
            f"decompose \"final\": {msg} (each layer's heads must all read that layer's input)",
        ) if msg else ok("decompose_final")
        msg = _compare(heads, exp_heads)
        fail("decompose_heads", c, f'decompose "heads": {msg}') if msg else ok("decompose_heads")

    results = []
    for name, title in TEST_TITLES.items():
        if failures[name]:
            results.append(CodingTestResult(name, title, "failed", failures[name]))
        elif checked[name]:
            results.append(
                CodingTestResult(
                    name,
                    title,
                    "passed",
                    f"passed on {checked[name]} random case{'s' if checked[name] > 1 else ''}",
                )
            )
        else:
            results.append(CodingTestResult(name, title, "not run", "no case exercised it"))
    return results


INTERFACE_CHECKS = tuple(c for c in CHECKS if c.startswith("defines_")) + (
    "causal_softmax",
    "heads_read_same_input",
)


def _not_run(reason: str, code: str) -> CodingReport:
    structural = analyze_code(code, INTERFACE_CHECKS) if len(code) <= MAX_CODE_CHARS else None
    tests = tuple(
        CodingTestResult(n, t, "not run", f"not run: {reason}") for n, t in TEST_TITLES.items()
    )
    return CodingReport(False, tests, not_run_reason=reason, structural=structural)


def run_coding_tests(
    code: str,
    *,
    execute: bool,
    limits: SandboxLimits = DEFAULT_LIMITS,
    cases: Sequence[TestCase] = CASES,
) -> CodingReport:
    """Grade ``code`` by running it (``execute=True``) or report every test as not run.

    Without execution the report holds today's structural analysis (never executed) for
    context, and ``not_run_reason`` says why the code was not run.
    """
    if not execute:
        return _not_run(
            "running code is switched off for this deployment; the answer was "
            "only read, not executed",
            code,
        )
    if len(code) > MAX_CODE_CHARS:
        return _not_run(too_long_message(len(code)), code)
    prepared, calls = _prepare(cases)
    result = run_learner_code(code, calls, limits)
    return CodingReport(True, tuple(_evaluate(prepared, result.outputs)), sandbox=result)


# --- the coding item's grader ------------------------------------------------------------------


def grade_structure(item: CodingItem, answer: Any):
    if answer is not None and not isinstance(answer, str):
        raise type_error(item.id, "code as text (a string)", answer)
    code = answer or ""
    unchanged = same_as_template(code, item.template)
    details: dict[str, Any] = {
        "parsed": False,
        "syntax_error": None,
        "rubric_found": [],
        "rubric_missing": [],
        "time_limit_minutes": item.time_limit_minutes,
        "executed": False,
        "unchanged_template": unchanged,
        "too_long": False,
    }
    if not code.strip() or unchanged:
        reason = "the template is unchanged" if unchanged else "not answered"
        details["rubric_missing"] = [
            {"check": r.check, "description": r.label, "weight": r.weight, "reason": reason}
            for r in item.rubric
        ]
        if unchanged:
            return (
                0.0,
                (
                    f"{NOT_ANSWERED} This is the starting template, unchanged (whitespace "
                    f"aside), so it counts as not answered and scores 0. Write your "
                    f"implementation into it."
                ),
                details,
                False,
            )
        return 0.0, NOT_ANSWERED, details, False
    if len(code) > MAX_CODE_CHARS:
        details["too_long"] = True
        details["rubric_missing"] = [
            {
                "check": r.check,
                "description": r.label,
                "weight": r.weight,
                "reason": "the code was too long to grade",
            }
            for r in item.rubric
        ]
        return 0.0, f"The code was not graded: {too_long_message(len(code))}.", details, True
    analysis = analyze_code(code, [r.check for r in item.rubric])
    if not analysis.parsed:
        details["syntax_error"] = {"line": analysis.error_line, "message": analysis.error}
        details["rubric_missing"] = [
            {
                "check": r.check,
                "description": r.label,
                "weight": r.weight,
                "reason": "the code was not parsed",
            }
            for r in item.rubric
        ]
        reason = analysis.error.rstrip(".?! ")
        return (
            0.0,
            (
                f"The code could not be graded: {reason}. Fix it and resubmit; the rubric is "
                f"checked only on code that parses (it is read, not run)."
            ),
            details,
            True,
        )
    details["parsed"] = True
    total = math.fsum(r.weight for r in item.rubric)
    earned = 0.0
    for r in item.rubric:
        res = analysis.checks[r.check]
        entry = {"check": r.check, "description": r.label, "weight": r.weight}
        if res.found:
            earned += r.weight
            details["rubric_found"].append(entry | {"evidence": res.detail})
        else:
            details["rubric_missing"].append(entry | {"reason": res.detail})
    score = earned / total
    fb = [
        f"Structural rubric (the code is read, not run): {len(details['rubric_found'])} of "
        f"{len(item.rubric)} items found, {earned:g} of {total:g} weight."
    ]
    if details["rubric_found"]:
        fb.append("Found: " + "; ".join(e["description"] for e in details["rubric_found"]) + ".")
    if details["rubric_missing"]:
        fb.append(
            "Missing: "
            + "; ".join(f"{e['description']} — {e['reason']}" for e in details["rubric_missing"])
            + "."
        )
    return score, " ".join(fb), details, True


def grade_coding(
    item: CodingItem, answer: Any, *, run_code: bool = False, limits: SandboxLimits = DEFAULT_LIMITS
):
    """Grade a coding item. An item with ``tests`` is run against the reference when
    ``run_code`` is True (score: the share of tests passed); otherwise, and for items without
    ``tests``, the structural rubric is read from the syntax tree and the code is never run."""
    if not item.tests or not run_code:
        score, feedback, details, answered = grade_structure(item, answer)
        if item.tests and answered and details.get("parsed"):
            feedback = (
                f"Not run: {NOT_RUN_REASON} The score is the structural rubric's. " + feedback
            )
        details["not_run_reason"] = NOT_RUN_REASON if item.tests else None
        details["tests"] = []
        return score, feedback, details, answered
    code = answer or ""
    if answer is not None and not isinstance(answer, str):
        raise type_error(item.id, "code as text (a string)", answer)
    if not code.strip() or same_as_template(code, item.template) or len(code) > MAX_CODE_CHARS:
        score, feedback, details, answered = grade_structure(item, answer)
        details["tests"], details["not_run_reason"] = [], None
        return score, feedback, details, answered
    report = run_coding_tests(code, execute=True, limits=limits)
    tests = [
        {"name": t.name, "title": t.title, "status": t.status, "message": t.message}
        for t in report.tests
    ]
    n = len(report.tests)
    details: dict[str, Any] = {
        "parsed": True,
        "syntax_error": None,
        "rubric_found": [],
        "rubric_missing": [],
        "time_limit_minutes": item.time_limit_minutes,
        "executed": True,
        "unchanged_template": False,
        "too_long": False,
        "tests": tests,
        "not_run_reason": None,
        "sandbox_message": report.sandbox.message if report.sandbox is not None else None,
    }
    fb = [
        f"Your functions were run against a reference on {len(CASES)} random seeds and "
        f"shapes: {report.n_passed} of {n} tests passed."
    ]
    if details["sandbox_message"]:
        fb.append(details["sandbox_message"])
    failed = report.failed
    if failed:
        fb.append("Failed: " + "; ".join(f"{t.title} — {t.message}" for t in failed) + ".")
    return report.score, " ".join(fb), details, True


NOT_RUN_REASON = (
    "running learner code is switched off on this deployment (it is on when the "
    "app runs on your own machine, and an instructor can turn it on for a hosted "
    "copy), so your code was read, not run."
)
