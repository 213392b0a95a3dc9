"""The coding item's interface: what the learner implements (documentation and template).

Kept free of torch so the schema and the pages can show it without loading the grader.
"""

FUNCTIONS = ("attention_pattern", "attention_layer", "qk_circuit", "ov_circuit", "decompose")

#: The name a bank uses for this test suite (``tests: transformer_functions``).
SUITE = "transformer_functions"

INTERFACE_DOC = """\
Implement these five functions with **torch** (and `math`); no classes needed. Shapes use the
lesson's orientation. For one layer with `n_head` heads:

| argument | shape |
|---|---|
| `x` (the layer's input stream) | `[seq, d_model]` |
| `W_Q`, `W_K`, `W_V` | `[n_head, d_head, d_model]` |
| `W_O` | `[n_head, d_model, d_head]` |

- `attention_pattern(x, W_Q, W_K)` → `[n_head, seq, seq]`: per head, q = x W_Qᵀ, k = x W_Kᵀ,
  scores = q kᵀ / √d_head, positions after the query masked (causal), softmax over keys.
  Every row sums to 1 and everything above the diagonal is 0.
- `attention_layer(x, W_Q, W_K, W_V, W_O)` → `[seq, d_model]`: the **sum** of all heads' outputs,
  head output = A · x · OVᵀ = A · (x W_Vᵀ) · W_Oᵀ. Every head reads the **same** `x`; do not add
  one head's output to the stream before the next head reads it.
- `qk_circuit(W_Q, W_K, head)` → `[d_model, d_model]`: W_Q[head]ᵀ W_K[head], so that
  scores = x · QK · xᵀ / √d_head.
- `ov_circuit(W_V, W_O, head)` → `[d_model, d_model]`: W_O[head] W_V[head].
- `decompose(x0, layers)` with `layers` a list of `(W_Q, W_K, W_V, W_O)` per layer → a dict:
  `"heads"`: `[n_layer, n_head, seq, d_model]`, what each head wrote, and `"final"`:
  `[seq, d_model]`, the final residual stream x0 + all layers' outputs (x_{l+1} = x_l + layer(x_l)).
  Then `x0 + heads.sum((0, 1))` equals `final`.

Inputs arrive as float64 tensors; return tensors. Your code runs in a separate process with
limits on time, memory and output, without network access, and only your functions' return
values are compared with a reference on several random seeds and shapes.
"""

TEMPLATE = '''\
import math
import torch


def attention_pattern(x, W_Q, W_K):
    """x [seq, d_model], W_Q/W_K [n_head, d_head, d_model] -> [n_head, seq, seq] (causal)."""
    raise NotImplementedError


def attention_layer(x, W_Q, W_K, W_V, W_O):
    """Sum of all heads' outputs, each head reading the same x -> [seq, d_model]."""
    raise NotImplementedError


def qk_circuit(W_Q, W_K, head):
    """W_Q[head]^T W_K[head] -> [d_model, d_model]."""
    raise NotImplementedError


def ov_circuit(W_V, W_O, head):
    """W_O[head] W_V[head] -> [d_model, d_model]."""
    raise NotImplementedError


def decompose(x0, layers):
    """{"heads": [n_layer, n_head, seq, d_model], "final": [seq, d_model]}."""
    raise NotImplementedError
'''
