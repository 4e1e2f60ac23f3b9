"""SGD and Adam for the trainer and the scorer: torch's own update kernels, through torch's public
functional API (``torch.optim.sgd.sgd``, ``torch.optim.adam.adam``, both in their module's
``__all__``), without the ``torch.optim.Optimizer`` class.

Why not ``torch.optim.SGD`` / ``Adam`` themselves: ``Optimizer.__init__`` (``add_param_group``),
``zero_grad``, ``state_dict`` and every ``step`` import ``torch._dynamo`` (``torch._disable_dynamo``
and the step's graph breaks), about 2.5 s of CPU per process on these machines; a retraining job
of the cpu profile computes for ~14 s, and a DAG starts hundreds of them
(``benchmarks/bench_startup.py``). The functional API runs the same kernels (fused ones on the
CPU where :func:`autosparse.training.cpu_fused` says so), so the weights are bit for bit those of
``torch.optim`` (``tests/test_train.py`` checks every variant we use, and that a process that
trains never imports ``torch._dynamo``). ``param_groups``, ``state`` (keyed by parameter),
``state_dict`` and ``load_state_dict`` follow torch.optim's format: a checkpoint of either loads
into the other.

SGD (plain, momentum, Nesterov; PyTorch's form, AutoS App. A):
``b_t = mu b_{t-1} + (g_t + lambda theta_{t-1})``, ``theta_t = theta_{t-1} - eta b_t``
(Nesterov: ``- eta (g_t + lambda theta_{t-1} + mu b_t)``). Adam (Kingma & Ba, Alg. 1, with L2
weight decay added to the gradient).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch


class FunctionalOptimizer:
    """One parameter group updated by one of torch's functional optimizers (module docstring)."""

    group_defaults: dict = {}

    def __init__(self, params: Iterable[torch.Tensor], **group) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        self.param_groups = [{**self.group_defaults, **group, "params": self.params}]
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}

    @property
    def group(self) -> dict:
        return self.param_groups[0]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    def _with_grad(self) -> list[torch.Tensor]:
        return [p for p in self.params if p.grad is not None]

    def state_dict(self) -> dict:
        """torch.optim's layout: state by parameter index, the group with ``params`` indices."""
        index = {p: i for i, p in enumerate(self.params)}
        return {"state": {index[p]: dict(s) for p, s in self.state.items() if s},
                "param_groups": [{**{k: v for k, v in self.group.items() if k != "params"},
                                  "params": list(range(len(self.params)))}]}

    def load_state_dict(self, state: Mapping) -> None:
        """Load a :meth:`state_dict` of this class or of the torch.optim one; tensors move to
        their parameter's device (Adam's step count where this group keeps it)."""
        groups = state["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(f"optimizer state has {[len(g['params']) for g in groups]} "
                             f"parameters in its groups, this optimizer one group of "
                             f"{len(self.params)}")
        self.group.update({k: v for k, v in groups[0].items() if k != "params"})
        self.state = {}
        for i, s in state["state"].items():
            p = self.params[int(i)]
            self.state[p] = {k: v.to(self._state_device(p, k)) for k, v in s.items()}

    def _state_device(self, p: torch.Tensor, key: str) -> torch.device:
        return p.device


class SGD(FunctionalOptimizer):
    """``torch.optim.SGD`` through ``torch.optim.sgd.sgd``: the same kernels, bit for bit."""

    group_defaults = {"lr": 1e-3, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0,
                      "nesterov": False, "maximize": False, "foreach": None,
                      "differentiable": False, "fused": None}

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, momentum: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False,
                 fused: bool | None = None) -> None:
        if nesterov and momentum <= 0:
            raise ValueError(f"Nesterov momentum needs momentum > 0, got {momentum}")
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov, fused=fused)

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.sgd import sgd

        g, params = self.group, self._with_grad()
        bufs = [self.state.get(p, {}).get("momentum_buffer") for p in params]
        sgd(params, [p.grad for p in params], bufs, weight_decay=g["weight_decay"],
            momentum=g["momentum"], lr=g["lr"], dampening=g["dampening"], nesterov=g["nesterov"],
            maximize=g["maximize"], foreach=g["foreach"], fused=g["fused"])
        if g["momentum"] != 0:
            for p, b in zip(params, bufs):
                self.state.setdefault(p, {})["momentum_buffer"] = b


class Adam(FunctionalOptimizer):
    """``torch.optim.Adam`` (no AMSGrad) through ``torch.optim.adam.adam``: the same kernels,
    bit for bit. The step count is float32 on the parameter's device for the fused kernels (and
    when ``capturable``, as a captured CUDA graph needs), else a CPU scalar of the default
    dtype, where ``torch.optim.Adam`` keeps it."""

    group_defaults = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                      "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
                      "differentiable": False, "fused": None, "decoupled_weight_decay": False}

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, fused: bool | None = None) -> None:
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         fused=fused)

    def _state_device(self, p: torch.Tensor, key: str) -> torch.device:
        on_device = self.group["fused"] or self.group["capturable"]
        return p.device if key != "step" or on_device else torch.device("cpu")

    @torch.no_grad()
    def step(self) -> None:
        from torch.optim.adam import adam

        g, params = self.group, self._with_grad()
        for p in params:
            if not self.state.get(p):
                step = (torch.zeros((), dtype=torch.float32, device=p.device)
                        if g["fused"] or g["capturable"]
                        else torch.tensor(0.0, dtype=torch.get_default_dtype()))
                self.state[p] = {"step": step,
                                 "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                 "exp_avg_sq": torch.zeros_like(
                                     p, memory_format=torch.preserve_format)}
        st = [self.state[p] for p in params]
        adam(params, [p.grad for p in params], [s["exp_avg"] for s in st],
             [s["exp_avg_sq"] for s in st], [], [s["step"] for s in st], amsgrad=False,
             beta1=g["betas"][0], beta2=g["betas"][1], lr=g["lr"],
             weight_decay=g["weight_decay"], eps=g["eps"], maximize=g["maximize"],
             foreach=g["foreach"], capturable=g["capturable"], fused=g["fused"],
             decoupled_weight_decay=g["decoupled_weight_decay"])
