"""How a profile names the stages' artifacts, and what the stage rules read.

A network spec ``{model, dataset}`` becomes a target (after the profile's stand-in datasets and
widths), an IRP run, a scorer or a method variant here; the survival, score and prune rules take
their inputs from :func:`survival_inputs`, :func:`score_inputs` and :func:`prune_inputs`. Every
name and path is built by :mod:`.paths`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from . import paths as wp

SCORER_METHOD = "autos"
# Reference methods read the target's own run of the job's seed (Frankle et al. Sec. 4):
# lottery = LTH (the magnitude IRP ticket), magnitude_after_training = the dense retraining.
OWN_DEFAULT = {"lottery": "magnitude", "magnitude_after_training": "dense"}


def dataset_for(config: Mapping, dataset: str) -> tuple[str, str]:
    """(dataset actually used, note) after the profile's stand-ins and notes."""
    stand = config.get("stand_ins", {}).get(dataset)
    if stand:
        return stand["dataset"], stand["note"]
    return dataset, config.get("notes", {}).get(dataset) or ""


def target_for(config: Mapping, net: Mapping) -> tuple[str, str]:
    """(target name, dataset note) of a network spec ``{model, dataset}``."""
    ds, note = dataset_for(config, net["dataset"])
    width = config.get("widths", {}).get(net["model"], 1.0)
    return wp.target_name(net["model"], ds, width), note


def irp_for(config: Mapping, net: Mapping, criterion: str | None = None,
            iterations: int | None = None, seed: int | None = None,
            train_seed: int | None = None) -> str:
    """IRP run name of ``net``; criterion, iterations and seed default to ``config.irp``'s."""
    irp = config["irp"]
    ds, _ = dataset_for(config, net["dataset"])
    return wp.irp_name(net["model"], ds, criterion or irp["criterion"],
                       iterations or irp["iterations"], irp["seed"] if seed is None else seed,
                       train_seed)


def scorer_for(config: Mapping, *, source: Mapping | None = None, survival: str | None = None,
               criterion: str | None = None, iterations: int | None = None,
               arch: str | None = None, inputs: str | None = None,
               batch_size: int | None = None, lr: float | None = None) -> str:
    """Scorer name; every field defaults to ``config.scorer`` (the paper's default AutoS)."""
    sc = config["scorer"]
    if survival is None:
        survival = irp_for(config, source or sc["source"], criterion, iterations)
    return wp.scorer_name(survival, arch or sc["arch"], inputs or sc["inputs"],
                          batch_size or sc["batch_size"], lr or sc["lr"])


def autos_variant(scorer: str) -> str:
    """Variant slug of AutoS with ``scorer``."""
    return wp.Variant(SCORER_METHOD, scorer=scorer).slug


def variant_for(config: Mapping, method: str, **kw) -> str:
    """Variant slug of a configured method name (optionally with variant parts, e.g.
    ``lottery__own-snip``); ``autos`` gets the default scorer, an iterative method the profile's
    ``prune.rounds`` (none: the method's own default), a reference method its own run."""
    if method == SCORER_METHOD:
        return autos_variant(scorer_for(config))
    v = wp.Variant.parse(method)
    rounds = v.rounds if v.rounds is not None else (
        config.get("prune", {}).get("rounds", {}).get(v.method))
    own = v.own or (None if v.irp else OWN_DEFAULT.get(v.method))
    return dataclasses.replace(v, rounds=rounds, own=own).slug


def own_inputs(config: Mapping, target: str, variant: str, seed: int | str) -> dict[str, str]:
    """Method options of a ``__own-`` variant: ``store=`` the target's IRP run with this criterion
    and seed (lottery), or ``trained=`` the dense weights of this seed (magnitude after training)."""
    v = wp.Variant.parse(variant)
    if not v.own:
        return {}
    if v.own == "dense":
        return {"trained": wp.weights_path(target, seed)}
    t = wp.parse_target(target)
    run = wp.irp_name(t["model"], t["dataset"], v.own, config["irp"]["iterations"], int(seed))
    return {"store": wp.irp_path(run)}


def survival_inputs(config: Mapping, name: str) -> list[str]:
    """IRP stores a survival dataset is built from: a merge of Table 6, or the IRP run ``name``."""
    merges = config["experiments"].get("table6", {}).get("merges", {})
    if name in merges:
        src = config["scorer"]["source"]
        return [wp.irp_path(irp_for(config, src, r["criterion"], r["iterations"], r["seed"]))
                for r in merges[name]]
    wp.parse_irp(name)
    return [wp.irp_path(name)]


def scored_variant(config: Mapping, variant: str) -> str | None:
    """The variant whose score store a pruning job thresholds: that of a ``prune.score_once``
    method without its ablation (None: the job scores for itself)."""
    v = wp.Variant.parse(variant)
    if v.method in config["prune"].get("score_once", []) and v.rounds is None:
        return dataclasses.replace(v, ablation=None).slug
    return None


def score_inputs(variant: str, config: Mapping | None = None, target: str = "",
                 seed: int | str = 0) -> list[str]:
    """The scorer checkpoint of AutoS variants, the IRP store of lottery variants, the target's
    own run of the job's seed for ``__own-`` variants (:func:`own_inputs`)."""
    v = wp.Variant.parse(variant)
    own = list(own_inputs(config, target, variant, seed).values()) if v.own else []
    return ([wp.scorer_path(v.scorer)] if v.scorer else []) + (
        [wp.irp_path(v.irp)] if v.irp else []) + own


def prune_inputs(config: Mapping, target: str, variant: str, seed: str) -> list[str]:
    """:func:`score_inputs`, or the score store of a ``prune.score_once`` method."""
    scored = scored_variant(config, variant)
    return ([wp.scores_path(target, scored, seed)] if scored
            else score_inputs(variant, config, target, seed))


# -- beyond the paper: learned variants against every baseline on held-out seeds ---------------

TICKET_SCORED = ("ticket_autos",)  # ticket methods whose base criterion is the profile's AutoS
READS_TICKET = ("ticket_", "law_")  # methods that read an IRP ticket's layer densities


def beyond_nets(config: Mapping) -> list[Mapping]:
    """Networks of ``experiments.beyond`` (``beyond.nets``, default the profile's target); the
    first is the source of the ``transfer`` rows' ticket."""
    return list(config["experiments"]["beyond"].get("nets") or [config["target"]])


def _net(net: Mapping) -> tuple[str, str]:
    return net["model"], net["dataset"]


def beyond_ticket(config: Mapping, net: Mapping | None = None) -> str:
    """The IRP run whose layer densities the ticket methods of ``experiments.beyond`` read on
    ``net`` (default the first network): that network's run with ``beyond.ticket``'s criterion /
    iterations / seed (default the profile's ``irp``)."""
    t = config["experiments"]["beyond"].get("ticket") or {}
    return irp_for(config, net or beyond_nets(config)[0], t.get("criterion"),
                   t.get("iterations"), t.get("seed"))


def beyond_variants(config: Mapping, net: Mapping | None = None
                    ) -> list[tuple[str, str, str]]:
    """``(role, entry, variant slug)`` of every row of the beyond table on ``net`` (default the
    first network): the configured ``methods`` (role ``baseline``, planned as elsewhere: PX
    with the profile's rounds), the ``references`` (``reference``: the IRP ticket, lottery =
    the network's own LTH run), the ``learned`` variants (``learned``: reading the network's own
    :func:`beyond_ticket`; ``ticket_autos`` also the profile's scorer) and, on every network but
    the first, the ``transfer`` variants (``transfer``: reading the first network's ticket, or
    on every network the ticket the entry names, e.g. ``law_synflow__irp-<resnet18 run>``); a
    network's own ``methods`` / ``references`` / ``learned`` / ``transfer`` replace the
    experiment's. An entry may carry variant parts, e.g. ``ticket_synflow__T1``."""
    ex = config["experiments"]["beyond"]
    nets = beyond_nets(config)
    net = net or nets[0]

    def rows_of(key: str) -> list[str]:
        return list(net.get(key, ex.get(key)) or [])

    out = [("baseline", m, variant_for(config, m)) for m in rows_of("methods")]
    out += [("reference", m, variant_for(config, m)) for m in rows_of("references")]
    rows = [("learned", m, beyond_ticket(config, net)) for m in rows_of("learned")]
    for m in rows_of("transfer"):  # a named ticket (__irp-) on every network
        if wp.Variant.parse(m).irp or _net(net) != _net(nets[0]):
            rows.append(("transfer", m, beyond_ticket(config, nets[0])))
    for role, m, ticket in rows:
        v = wp.Variant.parse(m)
        scorer = v.scorer or (scorer_for(config) if v.method in TICKET_SCORED else None)
        irp = v.irp or (ticket if v.method.startswith(READS_TICKET) else None)
        out.append((role, m, dataclasses.replace(v, irp=irp, scorer=scorer).slug))
    return out


def beyond_seeds(config: Mapping) -> list[int]:
    """Seeds of the beyond experiment (``beyond.seeds``, default the profile's)."""
    return list(config["experiments"]["beyond"].get("seeds") or config["seeds"])
