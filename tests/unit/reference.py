"""A slow, independent reference transformer for the tests: float64, explicit loops over heads
and positions, sinusoids from math.sin/cos. It shares only the weights with core.model."""

from __future__ import annotations

import math

import torch


def sinusoid(n: int, d: int) -> torch.Tensor:
    pe = torch.zeros(n, d, dtype=torch.float64)
    for pos in range(n):
        for i in range(0, d, 2):
            angle = pos / (10000 ** (i / d))
            pe[pos, i] = math.sin(angle)
            pe[pos, i + 1] = math.cos(angle)
    return pe


def reference_forward(model, ids: torch.Tensor) -> dict:
    """Returns streams, per-layer per-head weights [b,h,q,k] and head outputs [b,h,s,d], logits."""
    cfg = model.config
    b, s = ids.shape
    W_E = model.token_embedding.weight.detach().double()
    x = W_E[ids] + sinusoid(s, cfg.n_embd)[None]
    streams, weights_all, heads_all = [x.clone()], [], []
    for layer in model.layers:
        weights = torch.zeros(b, cfg.n_head, s, s, dtype=torch.float64)
        heads = torch.zeros(b, cfg.n_head, s, cfg.n_embd, dtype=torch.float64)
        for h in range(cfg.n_head):
            W_Q = layer.W_Q[h].detach().double()
            W_K = layer.W_K[h].detach().double()
            W_V = layer.W_V[h].detach().double()
            W_O = layer.W_O[h].detach().double()
            for bi in range(b):
                q, k, v = x[bi] @ W_Q.T, x[bi] @ W_K.T, x[bi] @ W_V.T
                for i in range(s):
                    raw = torch.tensor(
                        [float(q[i] @ k[j]) / math.sqrt(cfg.d_head) for j in range(i + 1)],
                        dtype=torch.float64,
                    )
                    p = torch.exp(raw - raw.max())
                    p = p / p.sum()
                    weights[bi, h, i, : i + 1] = p
                    mixed = (p[:, None] * v[: i + 1]).sum(0)
                    heads[bi, h, i] = W_O @ mixed
        x = x + heads.sum(1)  # every head read the same x; sum afterwards
        streams.append(x.clone())
        weights_all.append(weights)
        heads_all.append(heads)
    logits = x @ model.unembedding.weight.detach().double().T
    return {"streams": streams, "weights": weights_all, "heads": heads_all, "logits": logits}


def reference_sequential(model, ids: torch.Tensor, order=None) -> dict:
    """The seed's layer, by hand: inside a layer each head reads the stream *after* the previous
    head of that layer wrote to it. Batch 1. Returns x0, the head outputs in run order, final."""
    cfg = model.config
    s = ids.shape[1]
    order = list(range(cfg.n_head)) if order is None else list(order)
    W_E = model.token_embedding.weight.detach().double()
    x = W_E[ids[0]] + sinusoid(s, cfg.n_embd)
    x0, outputs = x.clone(), []
    for layer in model.layers:
        for h in order:
            W_Q, W_K = layer.W_Q[h].detach().double(), layer.W_K[h].detach().double()
            W_V, W_O = layer.W_V[h].detach().double(), layer.W_O[h].detach().double()
            q, k, v = x @ W_Q.T, x @ W_K.T, x @ W_V.T
            out = torch.zeros_like(x)
            for i in range(s):
                raw = torch.tensor(
                    [float(q[i] @ k[j]) / math.sqrt(cfg.d_head) for j in range(i + 1)],
                    dtype=torch.float64,
                )
                p = torch.softmax(raw, dim=0)
                out[i] = W_O @ (p[:, None] * v[: i + 1]).sum(0)
            outputs.append(out)
            x = x + out  # the next head of this layer reads the updated stream
    return {"embeddings": x0, "head_outputs": outputs, "final_stream": x}
