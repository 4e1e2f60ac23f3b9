"""Beyond the paper: ticket-density methods, the beyond experiment's plan, table and figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from helpers_methods import make_irp_store, prune_nested

import autosparse
from autosparse import workflow_config as wc
from autosparse import workflow_paths as wp
from autosparse.beyond import compare, render_beyond, row_name
from autosparse.cli import main as cli
from autosparse.masks import keep_count, mask_stats
from autosparse.methods.ticket_density import BASES, ticket_counts, ticket_shares
from autosparse.tables import build_table, gather

REPO = Path(__file__).resolve().parents[1]
TICKET_METHODS = [f"ticket_{b}" for b in BASES if b != "autos"]


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """A ticket of seed 0 (IMP-like nested masks, 6 iterations to 2 %) and a target of seed 1."""
    src = autosparse.build_model("lenet_300_100", 10, width=0.2, seed=0)
    store, history = make_irp_store(src, tmp_path_factory.mktemp("irp") / "irp.zarr")
    target = autosparse.build_model("lenet_300_100", 10, width=0.2, seed=1)
    return target, str(store), history


def _counts(history) -> np.ndarray:
    return np.array([[int(h[n].sum()) for n in h] for h in history])


def _interpolated(history, k: int) -> np.ndarray:
    """Hand computation of the module docstring: shares linear in the log-count position."""
    c = _counts(history).astype(float)
    tot = c.sum(1)
    i = max(j for j in range(len(tot)) if tot[j] >= k)
    if i == len(tot) - 1:
        return k * c[i] / tot[i]
    t = (np.log(tot[i]) - np.log(k)) / (np.log(tot[i]) - np.log(tot[i + 1]))
    return k * ((1 - t) * c[i] / tot[i] + t * c[i + 1] / tot[i + 1])


def _n(model) -> int:
    return sum(p.numel() for p in autosparse.prunable_parameters(model).values())


@pytest.mark.parametrize("name", TICKET_METHODS)
@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.97, 0.99])
def test_exact_count_and_ticket_layer_densities(name, sparsity, nets, mnist_batch):
    """Exact global count; each layer within one weight of the ticket's interpolated count
    (0.99 lies below the ticket's last density 0.98: its last shares)."""
    model, store, history = nets
    masks = autosparse.prune(model, name, sparsity, data=[mnist_batch], rounds=1, store=store)
    k = keep_count(_n(model), 1 - sparsity)
    assert mask_stats(masks)["kept"] == k
    want = _interpolated(history, k)
    got = np.array([int(m.sum()) for m in masks.values()])
    assert np.all(np.abs(got - want) < 1), (got, want)


def test_at_a_ticket_iteration_the_layer_counts_are_the_tickets(nets):
    model, store, history = nets
    total = _n(model)
    for h in history[1:]:
        kept = sum(int(m.sum()) for m in h.values())
        masks = autosparse.prune(model, "ticket_random", 1 - kept / total, store=store)
        assert [int(m.sum()) for m in masks.values()] == [int(m.sum()) for m in h.values()]
        # another initialisation: the structure transfers, not the per-weight mask
        assert any(not torch.equal(masks[n], h[n]) for n in h)


def test_iterative_rounds_follow_the_ticket_and_stay_nested(nets, mnist_batch):
    model, store, history = nets
    masks = prune_nested(model, "ticket_synflow", 0.97, 4, data=[mnist_batch], store=store)
    k = keep_count(_n(model), 0.03)
    got = np.array([int(m.sum()) for m in masks.values()])
    assert got.sum() == k and np.all(np.abs(got - _interpolated(history, k)) < 1)


def test_within_layers_the_base_criterion_decides(nets, mnist_batch):
    """Single-shot ticket_px keeps, in each layer, the k_l weights with the highest PX scores."""
    model, store, _ = nets
    masks = autosparse.prune(model, "ticket_px", 0.9, data=[mnist_batch], rounds=1, store=store)
    px = autosparse.score(model, "px", data=[mnist_batch])
    for n, m in masks.items():
        k = int(m.sum())
        order = torch.argsort(px[n].reshape(-1), descending=True, stable=True)
        want = torch.zeros(m.numel(), dtype=torch.bool)
        want[order[:k]] = True
        assert torch.equal(m.reshape(-1), want), n


@pytest.mark.parametrize("name", TICKET_METHODS)
def test_deterministic(name, nets, mnist_batch):
    model, store, _ = nets
    a = autosparse.prune(model, name, 0.95, data=[mnist_batch], rounds=2, store=store)
    b = autosparse.prune(model, name, 0.95, data=[mnist_batch], rounds=2, store=store)
    assert all(torch.equal(a[n], b[n]) for n in a)


def test_score_needs_a_density_and_a_matching_store(nets, tmp_path):
    model, store, _ = nets
    with pytest.raises(ValueError, match="density="):
        autosparse.score(model, "ticket_random", store=store)
    s = autosparse.score(model, "ticket_random", store=store, density=0.1)
    assert sum(int((v >= 1).sum()) for v in s.values()) == keep_count(_n(model), 0.1)
    other = autosparse.build_model("lenet_300_100", 10, width=0.25, seed=0)
    with pytest.raises(ValueError, match="shape"):
        autosparse.prune(other, "ticket_random", 0.9, store=store)


def test_ticket_counts_sum_round_and_cap():
    counts = np.array([[600, 300, 100], [120, 60, 20], [30, 12, 8]])
    shares = ticket_shares(counts, 120)
    assert shares.sum() == pytest.approx(1.0)
    k = ticket_counts(counts, 120, [600, 300, 100])
    assert sum(k) == 120 and np.all(np.abs(np.array(k) - 120 * shares) < 1)
    assert ticket_counts(counts, 200, [600, 300, 100]) == [120, 60, 20]   # an iteration
    assert ticket_counts(counts, 25, [600, 300, 100]) == [15, 6, 4]      # below: last shares
    capped = ticket_counts(counts, 200, [600, 300, 10])                  # cap moves the rest
    assert sum(capped) == 200 and capped[2] == 10
    with pytest.raises(ValueError):
        ticket_counts(counts, 50, [20, 20, 5])


# -- the DAG's plan ---------------------------------------------------------------------------

def _config(*profiles: str) -> dict:
    from snakemake.utils import update_config

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    for p in profiles:
        update_config(cfg, yaml.safe_load((REPO / p).read_text()))
    return cfg


CPU_BEYOND = ("config/cpu.yaml", "config/cpu-beyond.yaml")


def test_cpu_all_leaves_beyond_out_and_its_overlay_adds_it():
    from autosparse import plan

    cpu = plan.load_config([REPO / "config/cpu.yaml"], repo_root=REPO, check=False)
    assert "beyond" not in cpu["experiments"]
    assert not [t for t in wc.all_targets(cpu) if "beyond" in t]
    both = plan.load_config([REPO / p for p in CPU_BEYOND], repo_root=REPO, check=False)
    assert both["experiments"]["beyond"] == _config(*CPU_BEYOND)["experiments"]["beyond"]
    assert set(wc.all_targets(both)) - set(wc.all_targets(cpu)) == {
        "results/beyond.csv", "results/beyond.md",
        *(f"results/figures/beyond{e}" for e in wc.FIGURE_FORMATS)}


def test_cpu_plan_is_held_out_and_complete():
    cfg = _config(*CPU_BEYOND)
    ex = cfg["experiments"]["beyond"]
    nets = wc.beyond_nets(cfg)
    assert [(n["model"], n["dataset"]) for n in nets] == [("lenet_300_100", "mnist"),
                                                          ("lenet_300_100", "cifar10")]
    source = wc.beyond_ticket(cfg)
    assert source == wc.beyond_ticket(cfg, nets[0]) == "lenet_300_100-mnist-snip-n20-s0"
    seeds = wc.beyond_seeds(cfg)
    assert len(seeds) >= 5 and wp.parse_irp(source)["seed"] not in seeds
    assert set(ex["sparsities"]) == {0.99, 0.995}
    planned = wc.table_inputs(cfg, "beyond")
    want = set()
    for net in nets:
        rows = wc.beyond_variants(cfg, net)
        own = wc.beyond_ticket(cfg, net)
        assert wp.parse_irp(own)["seed"] not in seeds
        assert {"px", "synflow", "snip"} <= {e for r, e, _ in rows if r == "baseline"}
        for role, entry, variant in rows:
            v = wp.Variant.parse(variant)
            if role == "learned" and v.method == "autos":   # another scorer, no ticket
                assert v.irp is None and v.scorer != wc.scorer_for(cfg)
            elif role == "learned":   # a ticket of this network on another seed
                if "__irp-" in entry:   # the entry names its ticket (the LTH's: magnitude)
                    assert v.irp != own and wp.parse_irp(v.irp)["seed"] not in seeds
                else:
                    assert v.irp == own
                if "__sc-" in entry:   # the entry names its scorer
                    assert v.scorer == wp.Variant.parse(entry).scorer != wc.scorer_for(cfg)
                else:
                    assert (v.scorer == wc.scorer_for(cfg)) == (v.method == "ticket_autos")
            if role == "transfer":  # the first network's ticket on another network, or the
                assert v.method.startswith("law_")   # named ticket of another architecture
                if "__irp-" in entry:
                    assert wp.parse_irp(v.irp)["model"] != net["model"]
                else:
                    assert net is not nets[0] and v.irp == source != own
        assert wc.variant_for(cfg, "px") in {v for _, _, v in rows}   # PX at the profile's 100
        assert ({e for r, e, _ in rows if r == "transfer"} == set(ex["transfer"])) == (
            net is not nets[0])
        names = [row_name(wp.Variant.parse(v).method, wp.Variant.parse(v).rounds, e,
                          wp.Variant.parse(v).irp if r == "transfer" else "")
                 for r, e, v in rows]
        assert len(set(names)) == len(names), names   # every row of a network told apart
        tgt, _ = wc.target_for(cfg, net)
        want |= {wp.metrics_path(tgt, v, s, k) for _, _, v in rows for s in ex["sparsities"]
                 for k in seeds} | {wp.metrics_path(tgt, "dense", None, k) for k in seeds}
    assert wc.beyond_variants(cfg) == wc.beyond_variants(cfg, nets[0])
    assert {p for p, _ in planned} == want and len(planned) == len(want)
    assert {lab["role"] for _, lab in planned} == {"baseline", "reference", "learned",
                                                   "transfer", "dense"}
    assert wc.figure_inputs(cfg, "beyond") == planned
    assert "results/beyond.md" in wc.all_targets(cfg)
    assert "results/figures/beyond.svg" in wc.all_targets(cfg)
    tgt, _ = wc.target_for(cfg, cfg["target"])
    own = [v for r, _, v in wc.beyond_variants(cfg) if r == "reference"][0]  # each seed's LTH
    assert wc.score_inputs(own, cfg, tgt, 3) == [wp.irp_path(
        wp.irp_name("lenet_300_100", "mnist", "magnitude", 20, 3))]


def test_a_network_may_replace_the_experiments_rows():
    cfg = _config(*CPU_BEYOND)
    ex = cfg["experiments"]["beyond"]
    cifar = wc.beyond_nets(cfg)[1]
    cifar["methods"] = ["snip", "px"]
    rows = wc.beyond_variants(cfg, cifar)
    assert [e for r, e, _ in rows if r == "baseline"] == ["snip", "px"]
    assert [e for r, e, _ in rows if r == "learned"] == cifar["learned"] != ex["learned"]
    assert [e for r, e, _ in rows if r == "transfer"] == ex["transfer"]
    first = wc.beyond_variants(cfg, wc.beyond_nets(cfg)[0])
    assert [e for r, e, _ in first if r == "baseline"] == ex["methods"]


def test_learned_ticket_variant_prunes_from_the_ticket_store():
    cfg = _config(*CPU_BEYOND)
    tgt, _ = wc.target_for(cfg, cfg["target"])
    v = next(v for r, e, v in wc.beyond_variants(cfg) if e == "ticket_px")
    store = wp.irp_path(wc.beyond_ticket(cfg))
    assert wc.prune_inputs(cfg, tgt, v, "2") == [store]
    args = wc.prune_args(cfg, tgt, v, "0.995", "2")
    assert f"store={store}" in args and "--method ticket_px" in args and "--seed 2" in args


# -- the table on a hand-made metrics set -----------------------------------------------------

T2 = 4.302652729911275  # t_{0.975, 2}


def _metrics(root: Path, variant: str, sparsity, seed: int, acc: float, time: float | None,
             n_test: int = 1000, tgt: str = "lenet_300_100-mnist-w1") -> str:
    path = root / wp.metrics_path(tgt, variant, sparsity, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    m = {"test_accuracy": acc, "test_size": n_test, "config": {"epochs": 3}}
    if time is not None:
        import zarr

        store = root / wp.mask_path(tgt, variant, sparsity, seed)
        zarr.open_group(str(store), mode="w").attrs["scoring_time"] = time
        m["mask"] = str(store)
    path.write_text(json.dumps(m))
    return str(path)


@pytest.fixture
def synthetic(tmp_path):
    accs = {  # variant: (role, entry, accuracies of seeds 1, 2, 3, scoring time)
        "snip": ("baseline", "snip", [70.0, 72.0, 71.0], 1.0),
        "px__T100": ("baseline", "px", [80.0, 83.0, 81.0], 4.0),
        "lottery__own-magnitude": ("reference", "lottery", [85.0, 86.0, 87.0], 0.5),
        "ticket_px__irp-lenet_300_100-mnist-snip-n20-s0": ("learned", "ticket_px",
                                                          [83.0, 86.5, 84.2], 2.0),
        "ticket_random__irp-lenet_300_100-mnist-snip-n20-s0": ("learned", "ticket_random",
                                                              [79.0, 83.5, 81.0], 0.1),
    }
    files, labels = [], {}
    for v, (role, entry, a, t) in accs.items():
        for seed, x in zip((1, 2, 3), a):
            f = _metrics(tmp_path, v, 0.99, seed, x, t)
            files.append(f)
            labels[f] = {"role": role, "entry": entry, "dataset_note": ""}
    for seed, x in zip((1, 2, 3), (98.0, 98.2, 98.1)):
        f = _metrics(tmp_path, "dense", None, seed, x, None)
        files.append(f)
        labels[f] = {"role": "dense", "entry": "dense", "dataset_note": ""}
    return files, labels, tmp_path


def test_table_matches_a_hand_computation(synthetic):
    files, labels, _ = synthetic
    df = build_table("beyond", files, labels)
    assert list(df["role"]) == ["dense", "baseline", "baseline", "reference", "learned", "learned"]
    r = df.set_index("entry")
    a = [83.0, 86.5, 84.2]
    mean, sd = np.mean(a), np.std(a, ddof=1)
    assert r.loc["ticket_px", "mean"] == pytest.approx(mean)
    assert r.loc["ticket_px", "std"] == pytest.approx(sd)
    assert r.loc["ticket_px", "ci95_low"] == pytest.approx(mean - T2 * sd / math.sqrt(3))
    assert r.loc["ticket_px", "n_seeds"] == 3 and r.loc["ticket_px", "n_test"] == 1000
    assert r.loc["ticket_px", "noise_floor"] == pytest.approx(
        100 * math.sqrt(mean / 100 * (1 - mean / 100) / 1000))
    # best baseline: PX (mean 81.33 > SNIP 71); paired differences 3, 3.5, 3.2
    assert set(df.loc[df["role"] != "dense", "best_baseline"]) == {"PX (T = 100)"}
    assert r.loc["px", "verdict"] == "best baseline"
    d = [3.0, 3.5, 3.2]
    dm, dsd = np.mean(d), np.std(d, ddof=1)
    assert r.loc["ticket_px", "diff"] == pytest.approx(dm)
    assert r.loc["ticket_px", "diff_ci95_low"] == pytest.approx(dm - T2 * dsd / math.sqrt(3))
    assert r.loc["ticket_px", "diff_ci95_high"] == pytest.approx(dm + T2 * dsd / math.sqrt(3))
    assert dm - T2 * dsd / math.sqrt(3) > 0 and r.loc["ticket_px", "verdict"] == "holds"
    # Bonferroni over the 2 learned rows: the 97.5 % interval, t_{0.9875, 2} = 6.2053
    t_adj = 6.205346816
    assert r.loc["ticket_px", "n_contestants"] == 2
    assert r.loc["ticket_px", "diff_adj_low"] == pytest.approx(
        dm - t_adj * dsd / math.sqrt(3), rel=1e-6)
    assert r.loc["ticket_px", "verdict_adjusted"] == "holds"
    assert r.loc["snip", "verdict_adjusted"] == "" and r.loc["px", "n_contestants"] == 0
    # ticket_random: differences -1, 0.5, 0 -> straddles 0
    assert r.loc["ticket_random", "verdict"] == "inconclusive"
    assert r.loc["snip", "verdict"] == "fails"         # 70-80, 72-83, 71-81: all about -10
    # against the IRP ticket: 83-85, 86.5-86, 84.2-87
    assert r.loc["ticket_px", "diff_reference"] == pytest.approx(np.mean([-2.0, 0.5, -2.8]))
    assert r.loc["ticket_px", "time_vs_px"] == pytest.approx(0.5)
    assert r.loc["dense", "mean"] == pytest.approx(98.1) and r.loc["dense", "verdict"] == ""


def test_markdown_cli_and_figure(synthetic, tmp_path):
    files, labels, _ = synthetic
    out = tmp_path / "out" / "beyond.csv"
    assert cli(["table", "--name", "beyond", "--metrics", *files, "--labels", json.dumps(labels),
                "--profile", "cpu", "--out", str(out)]) == 0
    md = out.with_suffix(".md").read_text()
    assert "### LeNet-300-100 / MNIST, 99 % sparsity" in md
    assert "| Ticket densities + PX | learned (ours) |" in md
    assert "| verdict, Bonferroni over 2 |" in md
    assert "Noise floor" in md and "Held-out seeds 1, 2, 3." in md
    assert "lenet_300_100-mnist-snip-n20-s0" in md
    df = gather(files, labels)
    assert render_beyond(compare(df), "cpu") == md
    png = tmp_path / "fig" / "beyond.png"
    assert cli(["figure", "--name", "beyond", "--inputs", *files, "--labels", json.dumps(labels),
                "--out", str(png)]) == 0
    assert all(png.with_suffix(e).stat().st_size > 0 for e in (".png", ".pdf", ".svg"))


def test_two_networks_each_with_their_own_best_baseline(synthetic, tmp_path):
    """A second network (CIFAR-10) with a transfer row: its own best baseline, dense line,
    section and figure panel; the first network's rows are untouched by it."""
    files, labels, _ = synthetic
    one = build_table("beyond", files, labels)
    cifar = "lenet_300_100-cifar10-w1"
    law = "law_synflow__irp-lenet_300_100-mnist-snip-n20-s0"
    for v, role, entry, accs, t in (("snip", "baseline", "snip", [40.0, 41.0, 42.0], 1.0),
                                    ("px__T100", "baseline", "px", [45.0, 44.0, 46.0], 4.0),
                                    (law, "transfer", "law_synflow", [47.0, 46.5, 47.5], 3.0),
                                    ("dense", "dense", "dense", [50.0, 51.0, 52.0], None)):
        for seed, x in zip((1, 2, 3), accs):
            f = _metrics(tmp_path, v, None if v == "dense" else 0.99, seed, x, t, tgt=cifar)
            files.append(f)
            labels[f] = {"role": role, "entry": entry, "dataset_note": ""}
    df = build_table("beyond", files, labels)
    first = df[df["dataset"] == "mnist"].reset_index(drop=True)
    assert first.drop(columns="net").equals(one.drop(columns="net"))
    c = df[df["dataset"] == "cifar10"].set_index("entry")
    assert c.loc["px", "verdict"] == "best baseline"
    d = [2.0, 2.5, 1.5]
    assert c.loc["law_synflow", "diff"] == pytest.approx(np.mean(d))
    assert c.loc["law_synflow", "diff_ci95_low"] == pytest.approx(
        np.mean(d) - T2 * np.std(d, ddof=1) / math.sqrt(3))
    assert c.loc["law_synflow", "verdict"] == "holds"
    assert c.loc["law_synflow", "time_vs_px"] == pytest.approx(0.75)
    assert c.loc["dense", "mean"] == pytest.approx(51.0)
    md = render_beyond(df, "cpu")
    assert md.count("\n## ") == 2
    assert "| Density law + SynFlow [from LeNet-300-100 / MNIST] | transferred (ours) |" in md
    assert "IRP ticket of the transferred rows: `lenet_300_100-mnist-snip-n20-s0`" in md
    png = tmp_path / "fig2" / "beyond.png"
    assert cli(["figure", "--name", "beyond", "--inputs", *files, "--labels", json.dumps(labels),
                "--out", str(png)]) == 0
    assert png.stat().st_size > 0


def test_scorer_names_carry_the_ranking_loss_and_layer_context():
    """A scorer variant of the beyond table is named by what it changes, and its training job
    gets exactly those flags (the paper's scorers: neither)."""
    cfg = _config(*CPU_BEYOND)
    base = wc.scorer_for(cfg)
    assert wp.parse_scorer(base)["loss"] == "mse" and not wp.parse_scorer(base)["context"]
    for suffix, loss, ctx in ((".rank", "rank", False), (".ctx", "mse", True),
                              (".rank.ctx", "rank", True)):
        name = base.replace(".resnet18.", ".mlp.") + suffix
        d = wp.parse_scorer(name)
        assert (d["loss"], d["context"], d["arch"]) == (loss, ctx, "mlp")
        assert wp.scorer_name(d["survival"], d["arch"], d["inputs"], d["batch_size"], d["lr"],
                              d["loss"], d["context"]) == name
        args = wc.scorer_args(cfg, name)
        assert ("--loss rank" in args) == (loss == "rank")
        assert ("--context true" in args) == ctx
    assert "--loss" not in wc.scorer_args(cfg, base) and "--context" not in wc.scorer_args(
        cfg, base)
    with pytest.raises(ValueError, match="not a scorer name"):
        wp.parse_scorer(base + ".ranked")
    rows = {e: v for r, e, v in wc.beyond_variants(cfg) if r == "learned"}
    rank = next(e for e in rows if e.endswith(".rank"))
    assert wp.Variant.parse(rows[rank]).irp is None   # AutoS reads a scorer, not a ticket
    assert wc.score_inputs(rows[rank], cfg) == [wp.scorer_path(wp.Variant.parse(rank).scorer)]
