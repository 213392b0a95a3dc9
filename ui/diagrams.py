"""The lesson's information-flow diagram, as Graphviz DOT (rendered natively by Streamlit)."""

from __future__ import annotations

FLOW_DESCRIPTION = (
    "Information flows through a residual stream that preserves and accumulates content from "
    "token embeddings through attention layers to the final output, enabling multiple "
    "communication pathways of varying complexity. In the diagram: token embeddings (plus "
    "positions) form residual stream x0; each attention layer reads the stream and adds its "
    "heads' outputs back, giving x1, x2, ...; the unembedding turns the final stream into output "
    "logits. Dotted lines mark three kinds of path: the direct path from embedding to unembedding, "
    "single-head paths through one layer, and composition paths through several layers. The "
    "stream carries token identity, position, contextual relationships and semantic content."
)


def flow_diagram(n_layer: int = 2) -> str:
    """DOT source for the embeddings → stream → layers → unembedding flow (up to 4 layers drawn)."""
    shown = max(1, min(n_layer, 4))
    stream_style = 'shape=box, style="rounded,filled", fillcolor="#e1f5fe", color="#1f5fa8"'
    lines = [
        "digraph flow {",
        '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.4, ranksep=0.35, '
        'label="Residual stream architecture", labelloc=t];',
        '  node [fontname="Helvetica", fontsize=11, shape=box, style=rounded];',
        '  edge [fontname="Helvetica", fontsize=9];',
        '  emb [label="Token embeddings W_E + positions W_pos"];',
        f'  x0 [label="Residual stream x0", {stream_style}];',
        "  emb -> x0;",
    ]
    for l in range(shown):
        lines += [
            f'  attn{l} [label="Attention layer {l}\\n(all heads read x{l})", shape=box];',
            f'  x{l + 1} [label="Residual stream x{l + 1} = x{l} + Σ heads", {stream_style}];',
            f"  x{l} -> attn{l} [label=\"read\"];",
            f"  attn{l} -> x{l + 1} [label=\"add\"];",
            f"  x{l} -> x{l + 1} [label=\"copy (residual)\", style=bold];",
        ]
    last = shown
    if n_layer > shown:
        lines += [f'  more [label="… {n_layer - shown} more layer(s) …", shape=plaintext];',
                  f"  x{last} -> more;"]
        tail = "more"
    else:
        tail = f"x{last}"
    lines += [
        '  unemb [label="Unembedding W_U"];',
        '  logits [label="Output logits", shape=box];',
        f"  {tail} -> unemb;",
        "  unemb -> logits;",
        '  subgraph cluster_paths { label="Communication channels"; style=dashed; color="#888888";',
        '    direct [label="Direct path: embedding → unembedding", shape=note];',
        '    single [label="Single-head paths: through one layer", shape=note];',
        '    comp [label="Composition paths: through several layers", shape=note];',
        "  }",
        '  subgraph cluster_info { label="Information types in the stream"; style=dashed; '
        'color="#888888";',
        '    info [label="Token identity · Position\\nContextual relationships · Semantic content",'
        " shape=plaintext];",
        "  }",
        "  x0 -> direct [style=dotted, arrowhead=none];",
        f"  x{min(1, last)} -> single [style=dotted, arrowhead=none];",
        f"  x{last} -> comp [style=dotted, arrowhead=none];",
        "}",
    ]
    return "\n".join(lines)
