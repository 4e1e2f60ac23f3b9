"""NPB, Node-Path Balancing (Pham et al., NeurIPS 2023), after the authors' code (pvh1602/NPB).

Not a score-based method: it builds the mask directly, layer by layer in network order.

1. Per-layer densities from ERK (Evci et al.): ``d_l = eps * sum(shape_l) / prod(shape_l)``, layers
   whose density would exceed 1 kept dense, ``eps`` solved so the total equals ``d * N``. The real
   per-layer budgets are rounded to integers ``k_l`` by largest remainder (ties: layer order), so
   ``sum_l k_l = round(d * N)`` exactly and every ``|k_l - d_l n_l| < 1``.
2. ``P_in[c]``: the number of input->channel-c paths (summed over positions) of the current partly
   pruned network with every kept weight set to one, biases zero, BatchNorm as identity, all-ones
   input (the authors' ``copynet``; their biases are set to one, ours to zero: paths only).
3. Per layer, an integer program over ``M[i, o]`` = how many kernel entries connect input channel
   ``i`` to output channel ``o`` (authors' ``optimize_layerwise``, HiGHS via scipy's ``milp``)::

       max  alpha * (effective nodes) / (C_in + C_out)
          + (1 - alpha) * sum_io P_in[i] M[i, o] / max_path
          + beta * (number of (i, o) pairs with M > 0) / k_l
       s.t. sum M = k_l,  0 <= M <= max_p,  M integer

   with effective nodes = C_in + C_out - #(rows with sum 0) - #(columns with sum 0), written with
   the usual linear slack variables. Deviation: ``sum M = k_l`` (authors: ``<=``) to hit the
   exact count. Large layers are solved in chunks of ``chunk_size`` output channels (authors: 32,
   for C_in * C_out above ``chunk_pairs`` = 64 * 32, their ResNet-20 rule; Linear layers: chunks of
   10 outputs above 5120 pairs), the layer budget split by largest remainder.
4. Kernel positions of the ``M[i, o]`` entries drawn at random (seeded by ``seed``).

Ties: the program has many optima when inputs have equal path counts (always in the first layer,
whose all-ones input gives every channel/pixel one path). HiGHS then returns the lowest indices,
which for an MLP on MNIST are the always-black border pixels, so every chunk wired the same dead
corner and the 99 %-sparse LeNet fell to 33 % accuracy. Each chunk is solved on a seeded random
permutation of its input channels instead (the optimum value is unchanged): 83 % at 99 %.

Layer rules from the authors' ResNet-20 script (alpha 0.01, beta 1, max_p 9): 1x1 convolutions
(projection shortcuts) use ``max_p = 1`` and ``beta = 0.001`` (the function default they fall back
to) and after each one ``max_p`` drops by 2 while above 5; Linear layers use ``max_p = 1`` and
``beta = 0`` (P_in = the flattened input). Not reproduced: the authors' VGG-specific ``max_p``
schedule (keyed on hook indices) and their post-hoc ``fine_tune_mask`` pass.

Protocol: needs the target density (``prune`` passes it; ``score`` needs ``density=``), scores
are ``mask + 0.5 * u`` (``u`` uniform in [0, 1), seeded) so global top-k at that density returns
exactly this mask; ``scope="local"`` would not (NPB allocates its own layer densities).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn

from ..masks import keep_count
from .base import ScoringContext, generator, register_method


def erk_densities(shapes: dict[str, tuple[int, ...]], density: float) -> dict[str, float]:
    """ERK layer densities whose weighted total is ``density * N`` (dense layers capped at 1)."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must lie in [0, 1], got {density!r}")
    sizes = {n: math.prod(s) for n, s in shapes.items()}
    raw = {n: sum(s) / sizes[n] for n, s in shapes.items()}
    total = density * sum(sizes.values())
    dense: set[str] = set()
    while True:
        free = [n for n in shapes if n not in dense]
        rest = total - sum(sizes[n] for n in dense)
        divisor = sum(raw[n] * sizes[n] for n in free)
        eps = rest / divisor if divisor > 0 else 0.0
        over = [n for n in free if eps * raw[n] > 1.0]
        if not over:
            break
        top = max(raw[n] for n in over)
        dense |= {n for n in over if raw[n] == top}
    return {n: 1.0 if n in dense else eps * raw[n] for n in shapes}


def split_counts(real: dict[str, float], caps: dict[str, int], total: int) -> dict[str, int]:
    """Integers ``<= caps`` summing to ``total``, each within 1 of ``real`` (largest remainder)."""
    counts = {n: min(caps[n], int(math.floor(v))) for n, v in real.items()}
    left = total - sum(counts.values())
    order = sorted(real, key=lambda n: -(real[n] - math.floor(real[n])))  # stable: layer order
    while left > 0:
        progressed = False
        for n in order:
            if left > 0 and counts[n] < caps[n]:
                counts[n] += 1
                left -= 1
                progressed = True
        if not progressed:
            raise ValueError(f"cannot place {total} weights in layers of sizes {caps}")
    return counts


def solve_pairs(
    p_in: np.ndarray, c_out: int, k: int, max_p: int, alpha: float, beta: float
) -> np.ndarray:
    """Integer ``M[C_in, C_out]`` maximising the node/path/edge objective (module docstring)."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # lazy: ~0.7 s to import
    from scipy.sparse import csr_matrix, hstack, identity, kron, vstack

    c_in = len(p_in)
    npair = c_in * c_out
    if k > npair * max_p:
        max_p = math.ceil(k / npair)  # as the authors: enough room for the budget
    if k == 0:
        return np.zeros((c_in, c_out), dtype=np.int64)
    # authors' max_path: the best possible path count with k entries
    order = np.sort(p_in)[::-1]
    full, rem = divmod(k, c_out * max_p)
    max_path = order[:full].sum() * c_out * max_p + (rem * order[full] if full < c_in else 0.0)
    max_path = max_path if max_path > 0 else 1.0
    # variables: M (npair, i-major), t (npair) = [M == 0], u_in (c_in), u_out (c_out)
    c = np.concatenate([
        -(1 - alpha) * np.repeat(p_in, c_out) / max_path,
        np.full(npair, beta / k),
        np.full(c_in + c_out, alpha / (c_in + c_out)),
    ])
    eye = identity(npair, format="csr")
    row_sum = kron(identity(c_in), np.ones((1, c_out)), format="csr")  # (c_in, npair)
    col_sum = kron(np.ones((1, c_in)), identity(c_out), format="csr")  # (c_out, npair)
    z = lambda r, q: csr_matrix((r, q))  # noqa: E731
    a = vstack([
        hstack([csr_matrix(np.ones((1, npair))), z(1, npair), z(1, c_in + c_out)]),
        hstack([eye, eye, z(npair, c_in + c_out)]),
        hstack([row_sum, z(c_in, npair), identity(c_in), z(c_in, c_out)]),
        hstack([col_sum, z(c_out, npair), z(c_out, c_in), identity(c_out)]),
    ], format="csr")
    lo = np.concatenate([[k], np.ones(npair + c_in + c_out)])
    hi = np.concatenate([[k], np.full(npair + c_in + c_out, np.inf)])
    bounds = Bounds(np.zeros(2 * npair + c_in + c_out),
                    np.concatenate([np.full(npair, max_p), np.ones(npair), np.ones(c_in + c_out)]))
    integrality = np.concatenate([np.ones(npair), np.zeros(npair + c_in + c_out)])
    res = milp(c, constraints=LinearConstraint(a, lo, hi), bounds=bounds,
               integrality=integrality, options={"disp": False})
    if res.x is None:
        raise RuntimeError(f"npb: the layer program failed ({res.message})")
    m = np.rint(res.x[:npair]).astype(np.int64).reshape(c_in, c_out)
    if m.sum() != k:
        raise RuntimeError(f"npb: solver returned {m.sum()} entries, wanted {k}")
    return m


def _path_counts(model: nn.Module, masks: dict, names: list[str], x: torch.Tensor) -> dict:
    """Inputs of the prunable layers in the all-ones path-counting network (authors' copynet)."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                if mod.bias is not None:
                    mod.bias.zero_()
        for n in names:
            net.get_parameter(n).copy_(masks[n].double())
    for name, mod in list(net.named_modules()):
        if name and isinstance(mod, nn.modules.batchnorm._BatchNorm):
            parent, _, attr = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, attr, nn.Identity())
    inputs: dict[str, torch.Tensor] = {}
    handles = [net.get_submodule(n.rpartition(".")[0]).register_forward_pre_hook(
        lambda mod, inp, n=n: inputs.__setitem__(n, inp[0][0].detach())) for n in names]
    try:
        with torch.no_grad():
            net(x.double())
    finally:
        for h in handles:
            h.remove()
    return inputs


@register_method(
    "npb", needs_data=False, bn_mode="eval", rounds=1, seed=0, alpha=0.01, beta=1.0,
    max_p=9, shortcut_beta=0.001, chunk_size=32, chunk_pairs=2048, linear_chunk_size=10,
    linear_chunk_pairs=5120, input_shape=None,
    density=None,
)
def npb_masks(ctx: ScoringContext) -> dict[str, torch.Tensor]:
    """NPB mask as scores ``mask + 0.5 * u`` (see the module docstring)."""
    o = ctx.options
    density = ctx.density if o["density"] is None else float(o["density"])
    if density is None:
        raise ValueError("npb builds a mask for one density: use prune() or pass density=")
    if not all(bool(m.all()) for m in ctx.masks.values()):
        raise ValueError("npb is single-shot: it cannot start from a pruned mask (rounds=1)")
    alpha, beta, max_p = float(o["alpha"]), float(o["beta"]), int(o["max_p"])
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"npb: alpha must lie in [0, 1], got {o['alpha']!r}")
    if max_p < 1:
        raise ValueError(f"npb: max_p must be >= 1, got {o['max_p']!r}")
    if o["input_shape"] is not None:
        shape = tuple(int(d) for d in o["input_shape"])
    elif ctx.batches:
        shape = tuple(ctx.batches[0][0].shape[1:])
    else:
        raise ValueError("npb needs the input shape: pass data or input_shape=(C, H, W)")
    params = ctx.params
    names = list(params)
    shapes = {n: tuple(p.shape) for n, p in params.items()}
    dens = erk_densities(shapes, density)
    sizes = {n: p.numel() for n, p in params.items()}
    counts = split_counts({n: dens[n] * sizes[n] for n in names}, sizes,
                          keep_count(sum(sizes.values()), density))
    gen = generator(ctx)
    masks = {n: torch.ones(shapes[n], dtype=torch.bool) for n in names}
    x = torch.ones((1, *shape), device=ctx.device)
    chunk = int(o["chunk_size"])
    for n in names:
        p_in_t = _path_counts(ctx.model, masks, names, x)[n]
        w = params[n]
        if w.dim() == 4:
            c_out, c_in, kh, kw = w.shape
            p_in = p_in_t.sum(dim=(1, 2)).cpu().numpy()
            one_by_one = kh * kw == 1
            lmax, lbeta = (1, float(o["shortcut_beta"])) if one_by_one else (max_p, beta)
        elif w.dim() == 2:
            c_out, c_in = w.shape
            kh = kw = 1
            p_in = p_in_t.reshape(-1).cpu().numpy()
            one_by_one, lmax, lbeta = False, 1, 0.0
        else:
            raise ValueError(f"npb: layer {n!r} has unsupported weight shape {tuple(w.shape)}")
        if len(p_in) != c_in:
            raise ValueError(f"npb: input of {n!r} has {len(p_in)} channels, weight {c_in}")
        # chunks of output channels, the budget split by largest remainder
        conv = w.dim() == 4
        step = chunk if conv else int(o["linear_chunk_size"])
        if c_in * c_out <= int(o["chunk_pairs"] if conv else o["linear_chunk_pairs"]):
            step = c_out
        starts = list(range(0, c_out, step))
        per = {s: counts[n] * (min(s + step, c_out) - s) / c_out for s in starts}
        caps = {s: (min(s + step, c_out) - s) * c_in * kh * kw for s in starts}
        budget = split_counts(per, caps, counts[n])
        pairs = np.zeros((c_in, c_out), dtype=np.int64)
        for s in starts:
            e = min(s + step, c_out)
            # equal path counts (e.g. every input pixel of an MLP) are ties of the program: a
            # seeded permutation per chunk breaks them, not the solver's preference for index 0
            perm = torch.randperm(c_in, generator=gen).numpy()
            pairs[perm, s:e] = solve_pairs(p_in[perm], e - s, budget[s], lmax, alpha, lbeta)
        # kernel positions: the M[i, o] entries at random places of the kh x kw kernel
        ranks = torch.rand((c_out, c_in, kh * kw), generator=gen).argsort(-1).argsort(-1)
        pair_t = torch.from_numpy(pairs.T.copy()).unsqueeze(-1)
        masks[n] = (ranks < pair_t).reshape(shapes[n])
        if one_by_one and max_p > 5:
            max_p -= 2
    return {n: masks[n].double() + 0.5 * torch.rand(shapes[n], generator=gen, dtype=torch.float64)
            for n in names}
