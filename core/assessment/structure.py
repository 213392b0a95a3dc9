"""Structural rubric for submitted transformer code, read with :mod:`ast` and never executed.

The learner's code is only *parsed* (``ast.parse``): nothing is compiled, imported or run, so code
that would open files, import modules or loop forever does nothing here. Each rubric check looks
for a structure in the syntax tree and returns whether it was found, with evidence (the line) or
the reason it was not.

Checks (the names used in the YAML ``rubric`` of a coding item):

``nn_module_subclass``        a class deriving from ``nn.Module`` (or from such a class)
``init_method``               ``__init__`` that calls ``super().__init__()`` and builds something
``forward_signature``         ``forward(self, input_ids, return_analysis=False)`` that uses the flag
                              and returns a value
``residual_stream_tracking``  an additive update of the stream (``x = x + …`` / ``x += …``) and
                              the intermediate streams kept (``residual_streams.append(x)``, a
                              ``"residual_stream"`` key, …)
``per_head_attention``        a head dimension (``n_head``, ``d_head``, …), a matrix product
                              (``einsum``, ``@``, ``matmul``) and a ``softmax``
``qk_ov_circuits``            QK and OV circuits: methods named ``…qk…`` / ``…ov…`` with a body, or
                              products of ``W_Q``/``W_K`` and of ``W_O``/``W_V``
``information_flow_method``   a method such as ``analyze_information_flow`` or
                              ``path_decomposition`` with a body that returns something
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = [
    "CHECKS",
    "CHECK_DESCRIPTIONS",
    "CheckResult",
    "CodeAnalysis",
    "analyze_code",
    "MAX_CODE_CHARS",
    "same_as_template",
    "too_long_message",
]

#: Longer submissions are not parsed (a transformer fits in far less). The answer box uses the
#: same limit (``ui.assessment_ui`` passes it as ``max_chars``), so the two can never disagree.
MAX_CODE_CHARS = 50_000

_WHITESPACE = re.compile(r"\s+")


def same_as_template(code: str, template: str) -> bool:
    """True when ``code`` differs from a non-empty ``template`` only in whitespace (indentation,
    blank lines, trailing spaces): the learner has not written anything yet."""
    strip = _WHITESPACE.sub("", template or "")
    return bool(strip) and _WHITESPACE.sub("", code or "") == strip


def too_long_message(n_chars: int) -> str:
    """The learner-facing reason a submission of ``n_chars`` characters was not graded."""
    return (
        f"the code is {n_chars:,} characters long and the limit is {MAX_CODE_CHARS:,} "
        f"characters (a complete transformer fits in far less), so it was not graded; "
        f"shorten it and resubmit"
    )


@dataclass(frozen=True)
class CheckResult:
    found: bool
    detail: str  # evidence when found, the reason when not


@dataclass(frozen=True)
class CodeAnalysis:
    parsed: bool
    error: str | None  # why it was not parsed (syntax error with its line, too long, …)
    error_line: int | None
    checks: dict[str, CheckResult]


# --- helpers ---------------------------------------------------------------------------------


def _dotted(node: ast.AST) -> str:
    """``torch.nn.Module`` for an Attribute chain, ``x`` for a Name, '' otherwise."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if parts:
        return ".".join(reversed(parts))
    return ""


def _identifiers(node: ast.AST) -> Iterator[str]:
    """Every name, attribute, argument and keyword name under ``node``."""
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            yield n.id
        elif isinstance(n, ast.Attribute):
            yield n.attr
        elif isinstance(n, ast.arg) or isinstance(n, ast.keyword) and n.arg:
            yield n.arg
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield n.name


def _is_trivial_body(body: list[ast.stmt]) -> bool:
    """Only a docstring, ``pass``, ``...`` or ``raise NotImplementedError``."""
    for stmt in body:
        if isinstance(stmt, ast.Pass):
            continue
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # docstring or ...
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            target = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if _dotted(target).endswith("NotImplementedError"):
                continue
        return False
    return True


def _returns_value(fn: ast.AST) -> bool:
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn))


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _module_classes(tree: ast.Module) -> list[ast.ClassDef]:
    """Classes deriving from nn.Module, directly or through another class in the file."""
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    module_names: set[str] = set()
    changed = True
    while changed:
        changed = False
        for c in classes:
            if c.name in module_names:
                continue
            for base in c.bases:
                d = _dotted(base)
                if d in ("nn.Module", "torch.nn.Module", "Module") or d in module_names:
                    module_names.add(c.name)
                    changed = True
                    break
    return [c for c in classes if c.name in module_names]


def _methods(cls: ast.ClassDef) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    return {n.name: n for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


# --- checks ----------------------------------------------------------------------------------


def _check_module(tree: ast.Module) -> CheckResult:
    classes = _module_classes(tree)
    if not classes:
        return CheckResult(
            False, "no class derives from nn.Module (write class YourTransformer(nn.Module))"
        )
    c = classes[0]
    return CheckResult(True, f"class {c.name} derives from nn.Module (line {c.lineno})")


def _calls_super_init(fn: ast.AST) -> bool:
    for n in ast.walk(fn):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "__init__"
        ):
            inner = n.func.value
            if isinstance(inner, ast.Call) and _dotted(inner.func) == "super":
                return True
            if _dotted(inner) in ("nn.Module", "torch.nn.Module", "Module"):
                return True
    return False


def _builds_something(fn: ast.AST) -> bool:
    for n in ast.walk(fn):
        targets: list[ast.AST] = []
        if isinstance(n, ast.Assign):
            targets = list(n.targets)
        elif isinstance(n, (ast.AnnAssign, ast.AugAssign)):
            targets = [n.target]
        elif (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("register_buffer", "register_parameter", "add_module")
        ):
            return True
        for t in targets:
            for sub in ast.walk(t):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "self"
                ):
                    return True
    return False


def _check_init(tree: ast.Module) -> CheckResult:
    classes = _module_classes(tree)
    if not classes:
        return CheckResult(False, "there is no nn.Module class to hold an __init__")
    reasons = []
    for c in classes:
        init = _methods(c).get("__init__")
        if init is None:
            reasons.append(f"{c.name} has no __init__")
            continue
        if not _calls_super_init(init):
            reasons.append(
                f"{c.name}.__init__ never calls super().__init__(), which nn.Module requires"
            )
            continue
        if not _builds_something(init):
            reasons.append(f"{c.name}.__init__ builds nothing yet (no self.… = … assignments)")
            continue
        return CheckResult(
            True,
            f"{c.name}.__init__ calls super().__init__() and builds its "
            f"components (line {init.lineno})",
        )
    return CheckResult(False, "; ".join(reasons))


def _forward_problem(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    a = fn.args
    positional = [x.arg for x in a.posonlyargs + a.args]
    defaults = dict(zip(reversed(positional), reversed(a.defaults)))
    defaults.update({x.arg: d for x, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None})
    kwonly = [x.arg for x in a.kwonlyargs]
    shown = ", ".join(positional + (["*"] if kwonly else []) + kwonly)
    if positional[:2] != ["self", "input_ids"]:
        return f"forward takes ({shown}); expected (self, input_ids, return_analysis=False)"
    if "return_analysis" not in positional[2:3] and "return_analysis" not in kwonly:
        return f"forward takes ({shown}); it needs a return_analysis=False parameter"
    default = defaults.get("return_analysis")
    if not (isinstance(default, ast.Constant) and default.value is False):
        return "return_analysis must default to False, so plain calls return just the logits"
    if _is_trivial_body(fn.body):
        return "forward has the right signature but its body is still empty"
    uses_flag = any(
        isinstance(n, ast.Name) and n.id == "return_analysis" and isinstance(n.ctx, ast.Load)
        for n in ast.walk(fn)
    )
    if not uses_flag:
        return "forward never looks at return_analysis, so it cannot return the optional analysis"
    if not _returns_value(fn):
        return "forward never returns anything (return the logits, and the analysis when asked)"
    return None


def _check_forward(tree: ast.Module) -> CheckResult:
    candidates = [
        (c, _methods(c)["forward"]) for c in _module_classes(tree) if "forward" in _methods(c)
    ]
    if not candidates:
        return CheckResult(False, "no forward method in an nn.Module class")
    problems = []
    for c, fn in candidates:
        problem = _forward_problem(fn)
        if problem is None:
            return CheckResult(
                True, f"{c.name}.forward(self, input_ids, return_analysis=False) (line {fn.lineno})"
            )
        problems.append(f"{c.name}: {problem}")
    return CheckResult(False, "; ".join(problems))


_TRACK_NAME = re.compile(r"stream|resid|hidden|states|history|cache|activations", re.I)
_STREAM_WORD = re.compile(r"resid|stream", re.I)


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _additive_updates(tree: ast.AST) -> list[ast.stmt]:
    found: list[ast.stmt] = []
    for n in ast.walk(tree):
        if isinstance(n, ast.AugAssign) and isinstance(n.op, ast.Add):
            found.append(n)
        elif (
            isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)
        ):
            target = n.targets[0].id
            value = n.value
            if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add):
                # x = x + a (+ b …): the target is one of the terms of the sum
                terms: list[ast.AST] = []
                stack: list[ast.AST] = [value]
                while stack:
                    e = stack.pop()
                    if isinstance(e, ast.BinOp) and isinstance(e.op, ast.Add):
                        stack.extend((e.left, e.right))
                    else:
                        terms.append(e)
                if any(isinstance(t, ast.Name) and t.id == target for t in terms):
                    found.append(n)
    return found


def _stream_records(tree: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr in ("append", "extend", "insert")
        ):
            if _TRACK_NAME.search(_dotted(n.func.value) or ""):
                found.append(n)
        elif (
            isinstance(n, ast.Constant)
            and isinstance(n.value, str)
            and _STREAM_WORD.search(n.value)
            and len(n.value) <= 60
        ):
            found.append(n)  # a "residual_stream(s)" key in the analysis
        elif (
            isinstance(n, ast.Assign)
            and isinstance(n.value, (ast.List, ast.ListComp))
            and any(_STREAM_WORD.search(_dotted(t) or "") for t in n.targets)
        ):
            found.append(n)
    return found


def _check_residual(tree: ast.Module) -> CheckResult:
    updates = _additive_updates(tree)
    records = _stream_records(tree)
    if updates and records:
        return CheckResult(
            True,
            f"additive stream update (line {updates[0].lineno}) and the "
            f"streams kept (line {records[0].lineno})",
        )
    if not updates and not records:
        return CheckResult(
            False,
            "no additive update of the residual stream (x = x + head_out) "
            "and no record of the intermediate streams",
        )
    if not updates:
        return CheckResult(
            False,
            "the streams are recorded, but no component's output is added "
            "to the stream (x = x + head_out or x += head_out)",
        )
    return CheckResult(
        False,
        "the stream is updated additively, but its intermediate states are "
        "not kept (e.g. residual_streams.append(x))",
    )


_HEAD_PARTS = {"head", "heads", "nhead", "nheads", "dhead", "headdim", "numheads"}


def _is_head_ident(ident: str) -> bool:
    """n_head, d_head, num_heads, head_dim, heads, head_idx, attention_heads, AttentionHead …"""
    low = ident.lower()
    return any(p in _HEAD_PARTS for p in re.split(r"[_\d]+", low)) or low.endswith(
        ("head", "heads")
    )


def _check_heads(tree: ast.Module) -> CheckResult:
    head = next((i for i in _identifiers(tree) if _is_head_ident(i)), None)
    product = None
    softmax = None
    for n in ast.walk(tree):
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult) and product is None:
            product = n
        elif isinstance(n, ast.Call):
            name = _dotted(n.func).rsplit(".", 1)[-1]
            if name in ("einsum", "matmul", "bmm", "mm") and product is None:
                product = n
            elif name in ("softmax", "Softmax", "log_softmax") and softmax is None:
                softmax = n
    missing = []
    if head is None:
        missing.append("no head dimension (n_head / d_head)")
    if product is None:
        missing.append("no matrix product for the scores (einsum, @ or matmul)")
    if softmax is None:
        missing.append("no softmax turning scores into an attention pattern")
    if missing:
        return CheckResult(False, "; ".join(missing))
    return CheckResult(
        True,
        f"heads ({head}), scores by matrix product (line {product.lineno}), "
        f"softmax (line {softmax.lineno})",
    )


def _weight_name(ident: str) -> str | None:
    m = re.fullmatch(r"w_?([qkvo])", ident, re.I)
    return m.group(1).lower() if m else None


def _product_pairs(tree: ast.AST) -> set[frozenset[str]]:
    """Pairs of weight letters multiplied together, e.g. {q, k} for W_Q.T @ W_K."""
    pairs: set[frozenset[str]] = set()
    for n in ast.walk(tree):
        is_product = (isinstance(n, ast.BinOp) and isinstance(n.op, ast.MatMult)) or (
            isinstance(n, ast.Call)
            and _dotted(n.func).rsplit(".", 1)[-1] in ("einsum", "matmul", "mm", "bmm")
        )
        if not is_product:
            continue
        letters = {w for i in _identifiers(n) if (w := _weight_name(i))}
        for pair in (frozenset("qk"), frozenset("ov")):
            if pair <= letters:
                pairs.add(pair)
    return pairs


def _check_circuits(tree: ast.Module) -> CheckResult:
    found: dict[str, str] = {}
    for fn in _functions(tree):
        lname = fn.name.lower()
        for key in ("qk", "ov"):
            if (
                key in re.split(r"[_\d]+", lname)
                and key not in found
                and not _is_trivial_body(fn.body)
                and _returns_value(fn)
            ):
                found[key] = f"{fn.name} (line {fn.lineno})"
    pairs = _product_pairs(tree)
    if "qk" not in found and frozenset("qk") in pairs:
        found["qk"] = "a W_Q/W_K product"
    if "ov" not in found and frozenset("ov") in pairs:
        found["ov"] = "a W_O/W_V product"
    if len(found) == 2:
        return CheckResult(True, f"QK circuit: {found['qk']}; OV circuit: {found['ov']}")
    missing = [k.upper() for k in ("qk", "ov") if k not in found]
    have = [f"{k.upper()} via {v}" for k, v in found.items()]
    detail = (
        f"no {' or '.join(missing)} circuit (e.g. get_qk_circuit returning W_Q.T @ W_K, "
        f"get_ov_circuit returning W_O @ W_V)"
    )
    if have:
        detail += f"; found {have[0]}"
    return CheckResult(False, detail)


_FLOW_NAME = re.compile(
    r"flow|decompos|attribut"
    r"|(analy[sz]e|trace|track|compute|get|find|split)_?(information_?|info_?)?paths?"
    r"|paths?_?(analysis|contrib|decomp|breakdown|split)",
    re.I,
)


def _check_flow(tree: ast.Module) -> CheckResult:
    stubs = []
    for fn in _functions(tree):
        if fn.name == "forward" or not _FLOW_NAME.search(fn.name):
            continue
        if _is_trivial_body(fn.body) or not _returns_value(fn):
            stubs.append(fn.name)
            continue
        return CheckResult(True, f"{fn.name} (line {fn.lineno})")
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        if _FLOW_NAME.search(cls.name) and any(
            not _is_trivial_body(m.body) for m in _methods(cls).values()
        ):
            return CheckResult(True, f"class {cls.name} (line {cls.lineno})")
    if stubs:
        return CheckResult(
            False,
            f"{stubs[0]} is still a stub: it needs a body that computes and "
            f"returns the path decomposition",
        )
    return CheckResult(
        False, "no information-flow / path-decomposition method (e.g. analyze_information_flow)"
    )


#: The five functions of the executed coding item (:mod:`core.assessment.coding`) and their
#: parameters, for the structural fallback used when code is not run.
INTERFACE_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "attention_pattern": ("x", "W_Q", "W_K"),
    "attention_layer": ("x", "W_Q", "W_K", "W_V", "W_O"),
    "qk_circuit": ("W_Q", "W_K", "head"),
    "ov_circuit": ("W_V", "W_O", "head"),
    "decompose": ("x0", "layers"),
}


def _top_level_function(tree: ast.Module, name: str):
    found = None
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node  # the last definition wins, as when the module runs
    return found


_PRODUCT_CALLS = {"einsum", "matmul", "mm", "bmm", "dot", "tensordot", "linear", "softmax"}


def _computes(fn: ast.AST, tree: ast.Module, seen: frozenset[str] = frozenset()) -> bool:
    """A matrix product (or softmax) in ``fn``, or in a top-level function it calls."""
    for node in ast.walk(fn):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
            return True
        if isinstance(node, ast.Call):
            called = _dotted(node.func).rsplit(".", 1)[-1]
            if called in _PRODUCT_CALLS:
                return True
            helper = _top_level_function(tree, called) if called not in seen else None
            if helper is not None and helper is not fn and _computes(helper, tree, seen | {called}):
                return True
    return False


def _interface_check(name: str, params: tuple[str, ...]) -> Callable[[ast.Module], CheckResult]:
    def check(tree: ast.Module) -> CheckResult:
        fn = _top_level_function(tree, name)
        if fn is None:
            return CheckResult(False, f"no top-level function {name}({', '.join(params)})")
        args = fn.args
        n_args = len(args.posonlyargs) + len(args.args)
        if n_args != len(params) and args.vararg is None:
            return CheckResult(
                False,
                f"{name} (line {fn.lineno}) takes {n_args} argument"
                f"{'s' if n_args != 1 else ''}; the interface passes "
                f"{len(params)} ({', '.join(params)})",
            )
        if _is_trivial_body(fn.body):
            return CheckResult(False, f"{name} (line {fn.lineno}) has no implementation yet")
        if not _returns_value(fn):
            return CheckResult(False, f"{name} (line {fn.lineno}) never returns a value")
        if not _computes(fn, tree):
            return CheckResult(
                False,
                f"{name} (line {fn.lineno}) computes no product of its "
                f"inputs (no @, matmul or einsum, directly or through a "
                f"function it calls), so it cannot compute the result",
            )
        declared = [a.arg for a in (*args.posonlyargs, *args.args)]
        read = {
            n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
        }
        unused = [a for a in declared if a not in read]
        if unused and args.vararg is None:
            return CheckResult(
                False,
                f"{name} (line {fn.lineno}) never uses "
                f"{', '.join(unused)}, so it cannot compute the result",
            )
        return CheckResult(True, f"line {fn.lineno}: def {name}(…) uses its inputs and returns")

    return check


_WEIGHT_NAME = re.compile(r"^W_?[QKVO]$|head", re.I)


def _is_head_loop(loop: ast.For) -> bool:
    """A loop over heads: its iterable mentions W_Q/W_K/W_V/W_O or a name with "head"."""
    names = [_dotted(n) for n in ast.walk(loop.iter) if isinstance(n, (ast.Name, ast.Attribute))]
    return any(_WEIGHT_NAME.search(part) for name in names for part in name.split("."))


def _check_same_input(tree: ast.Module) -> CheckResult:
    """Heads in parallel: no loop over heads adds to a variable that the same loop also reads
    as the heads' input (the seed's bug: each head reads the stream the previous one wrote)."""
    written = [
        name
        for name in ("attention_layer", "decompose")
        if _interface_check(name, INTERFACE_FUNCTIONS[name])(tree).found
    ]
    if not written:
        return CheckResult(
            False,
            "neither attention_layer nor decompose is implemented with "
            "all its inputs yet, so there is nothing to check",
        )
    for loop in (n for n in ast.walk(tree) if isinstance(n, ast.For) and _is_head_loop(n)):
        body = ast.Module(body=loop.body, type_ignores=[])
        updated = {
            u.target.id
            if isinstance(u, ast.AugAssign) and isinstance(u.target, ast.Name)
            else u.targets[0].id
            if isinstance(u, ast.Assign)
            else None
            for u in _additive_updates(body)
        } - {None}
        for call in (n for n in ast.walk(body) if isinstance(n, ast.Call)):
            args = [*call.args, *(k.value for k in call.keywords)]
            read = {n.id for a in args for n in ast.walk(a) if isinstance(n, ast.Name)}
            both = sorted(updated & read)
            if both:
                return CheckResult(
                    False,
                    f"line {loop.lineno}: inside the loop over heads, "
                    f"{both[0]} is both the input of a head and updated "
                    f"with its output, so each head reads what the "
                    f"previous one wrote (heads must read the same input)",
                )
    return CheckResult(True, "no loop over heads feeds one head's output to the next")


_MASK_CALLS = {"tril", "triu", "masked_fill", "masked_fill_", "where"}


def _check_causal_softmax(tree: ast.Module) -> CheckResult:
    fn = _top_level_function(tree, "attention_pattern")
    if fn is None:
        return CheckResult(False, "no top-level function attention_pattern")
    calls = {_dotted(n.func).rsplit(".", 1)[-1] for n in ast.walk(fn) if isinstance(n, ast.Call)}
    inf = any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and "inf" in n.value.lower()
        for n in ast.walk(fn)
    ) or any(
        _dotted(n).endswith("inf") for n in ast.walk(fn) if isinstance(n, (ast.Attribute, ast.Name))
    )
    if "softmax" not in calls:
        return CheckResult(False, f"attention_pattern (line {fn.lineno}) has no softmax")
    if not (calls & _MASK_CALLS or inf):
        return CheckResult(
            False,
            f"attention_pattern (line {fn.lineno}) applies no causal mask "
            f"(tril/triu, masked_fill or −inf) before its softmax",
        )
    return CheckResult(True, f"line {fn.lineno}: a causal mask and a softmax")


CHECKS: dict[str, Callable[[ast.Module], CheckResult]] = {
    "nn_module_subclass": _check_module,
    "init_method": _check_init,
    "forward_signature": _check_forward,
    "residual_stream_tracking": _check_residual,
    "per_head_attention": _check_heads,
    "qk_ov_circuits": _check_circuits,
    "information_flow_method": _check_flow,
    **{
        f"defines_{name}": _interface_check(name, params)
        for name, params in INTERFACE_FUNCTIONS.items()
    },
    "causal_softmax": _check_causal_softmax,
    "heads_read_same_input": _check_same_input,
}

#: Default wording of each check, used when a bank's rubric gives none.
CHECK_DESCRIPTIONS: dict[str, str] = {
    "nn_module_subclass": "A model class that subclasses nn.Module",
    "init_method": "__init__ that calls super().__init__() and builds the components",
    "forward_signature": "forward(self, input_ids, return_analysis=False) returning logits and, "
    "when asked, the analysis",
    "residual_stream_tracking": "Residual stream tracking: additive updates, intermediate streams kept",
    "per_head_attention": "Per-head attention: a head dimension, scores by matrix product, softmax",
    "qk_ov_circuits": "QK and OV circuit extraction (W_Qᵀ W_K and W_O W_V)",
    "information_flow_method": "An information-flow / path-decomposition method",
    **{
        f"defines_{name}": f"{name}({', '.join(params)}) defined, with a body that returns"
        for name, params in INTERFACE_FUNCTIONS.items()
    },
    "causal_softmax": "attention_pattern applies a causal mask and a softmax",
    "heads_read_same_input": "Heads of a layer all read the same input (no head reads another's output)",
}


def analyze_code(source: str, checks: list[str] | tuple[str, ...]) -> CodeAnalysis:
    """Parse ``source`` (never execute it) and run the named rubric checks on its syntax tree."""
    if len(source) > MAX_CODE_CHARS:
        return CodeAnalysis(False, too_long_message(len(source)), None, {})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for invalid escape sequences
            tree = ast.parse(source, filename="<submission>", mode="exec")
    except SyntaxError as exc:
        line = exc.lineno
        where = f" at line {line}" if line else ""
        return CodeAnalysis(False, f"SyntaxError{where}: {exc.msg}", line, {})
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = (
            "it contains a null byte" if isinstance(exc, ValueError) else "it is nested too deeply"
        )
        return CodeAnalysis(False, f"the code could not be parsed: {reason}", None, {})
    try:
        results = {name: CHECKS[name](tree) for name in checks}
    except RecursionError:
        return CodeAnalysis(
            False, "the code could not be analysed: it is nested too deeply", None, {}
        )
    return CodeAnalysis(True, None, None, results)
