"""The lesson's information-flow diagram, as Graphviz DOT (rendered natively by Streamlit).

Streamlit draws the SVG at its column's width and sets every label's font size itself (about
10 SVG units), so what makes labels readable is a *narrow* diagram: the residual stream runs
top to bottom as a spine, each attention layer sits beside it, and labels are short. At most
three layers are drawn; deeper models show the first and the last layer with the ones between
folded into one node. The communication paths are explained in :data:`FLOW_DESCRIPTION`
instead of a legend, which would make the drawing wider and its labels smaller.
"""

from __future__ import annotations

#: Layers drawn one by one; deeper models fold the middle layers into one node.
MAX_LAYERS_DRAWN = 3

FLOW_DESCRIPTION = (
    "The diagram runs top to bottom, with the residual stream as the thick middle line. The "
    "token embedding (a row of W_E) plus the position embedding (a row of W_pos) form the "
    "stream x0, one vector per token position. In attention layer 0 all heads read the same x0; "
    "their outputs are summed and added to the stream, giving x1 = x0 + Σ head outputs. Each "
    "later layer does the same with the stream it receives (x1, x2, …); for deep models the "
    "middle layers are folded into one node. "
    "The stream is never overwritten, but what a head adds can also cancel or reverse a direction "
    "already in it. The unembedding W_U turns the final stream into the output logits. Because "
    "every step is an addition, the final stream is exactly the embeddings plus every head's "
    "output (this model has no MLPs and no LayerNorm), so information reaches the logits along "
    "three kinds of path: the direct path from the embeddings to the unembedding, paths through "
    "a single head, and composition paths, where a later head reads what an earlier head wrote. "
    "At the start the stream holds each token's identity and position; heads add information "
    "moved from other positions."
)

_STREAM = (
    'shape=box, style="rounded,filled", fillcolor="#e1f5fe", color="#1f5fa8", '
    "penwidth=1.5, width=0.45, group=spine"
)
_LAYER = 'shape=box, style="filled", fillcolor="#fff3e0", color="#b35c00"'


def _layers_drawn(n_layer: int) -> list[int | None]:
    """Layer indices to draw, ``None`` standing for the folded middle layers."""
    if n_layer <= MAX_LAYERS_DRAWN:
        return list(range(n_layer))
    return [0, None, n_layer - 1]


def flow_diagram(n_layer: int = 2) -> str:
    """DOT source for embeddings → residual stream ⇄ attention layers → unembedding → logits.

    Narrow on purpose (about 200 pt wide) so that, scaled to a column of ~270 px, its labels
    stay about 11 px tall.
    """
    n_layer = max(1, int(n_layer))
    lines = [
        "digraph flow {",
        '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.18, ranksep=0.28, margin=0, '
        "pad=0.05];",
        '  node [fontname="Helvetica", fontsize=9, shape=box, margin="0.06,0.03", height=0.28];',
        '  edge [fontname="Helvetica", fontsize=9, color="#444444", arrowsize=0.7];',
        '  emb [label="token W_E\\n+ position\\nW_pos"];',
        f'  x0 [label="x0", {_STREAM}];',
        "  emb -> x0;",
        "  { rank=same; emb; x0; }",
    ]
    stream = "x0"  # the stream node the next layer reads
    for l in _layers_drawn(n_layer):
        if l is None:
            folded = n_layer - 2
            first, last = 1, n_layer - 2
            lines += [
                f'  more [label="⋮ layers {first}–{last}\\n(same pattern,\\n{folded} layers)",'
                " shape=plaintext, group=spine];",
                f"  {stream} -> more [penwidth=2.5];",
            ]
            stream = f"x{n_layer - 1}"
            lines += [
                f'  {stream} [label="{stream}", {_STREAM}];',
                f"  more -> {stream} [penwidth=2.5];",
            ]
            continue
        nxt = f"x{l + 1}"
        lines += [
            f'  attn{l} [label="layer {l}:\\nheads read {stream},\\noutputs summed", {_LAYER}];',
            f"  {{ rank=same; {stream}; attn{l}; }}",
            f'  {nxt} [label="{nxt}", {_STREAM}];',
            f"  {stream} -> attn{l};",
            f'  attn{l} -> {nxt} [label=" add"];',
            f"  {stream} -> {nxt} [penwidth=2.5];",
        ]
        stream = nxt
    lines += [
        '  logits [label="unembed W_U\\n→ logits"];',
        f"  {stream} -> logits;",
        f"  {{ rank=same; {stream}; logits; }}",
        "}",
    ]
    return "\n".join(lines)
