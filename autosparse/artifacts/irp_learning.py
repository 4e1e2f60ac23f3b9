"""Did the IRP network learn? The learning check on an IRP store's attrs (:mod:`.irp_store`
records ``n_test``, ``num_classes``, ``chance``, ``dense_test_accuracy`` and ``learned``): scores
of a run that never learned are noise. Torch-free."""

from __future__ import annotations

import math
from collections.abc import Mapping

LEARNED_Z = 3.0  # binomial standard errors above chance
LEARNED_RATIO = 1.5  # and at least this many times chance


def chance_attrs(n_test: int, num_classes: int) -> dict:
    """The attrs the learning check needs, recorded when the store is created."""
    return {"n_test": int(n_test), "num_classes": int(num_classes),
            "chance": 1.0 / int(num_classes)}


def above_chance(accuracy: float, n_test: int | None, chance: float) -> tuple[bool, float]:
    """(learned, z) for an accuracy (fraction) measured on ``n_test`` images.

    z = (accuracy - chance) / sqrt(chance (1 - chance) / n_test); learned means z >= 3 AND
    accuracy >= 1.5 x chance. Unknown ``n_test`` (None or < 1): z is NaN and only the 1.5 x rule
    decides. A NaN accuracy never counts as learned.
    """
    if not math.isfinite(accuracy) or not 0.0 < chance < 1.0:
        return False, float("nan")
    eps = 1e-9  # accuracies are k / n in %: exact boundary cases must not fail on rounding
    ratio_ok = accuracy >= LEARNED_RATIO * chance - eps
    if not n_test or n_test < 1:
        return bool(ratio_ok), float("nan")
    z = (accuracy - chance) / math.sqrt(chance * (1.0 - chance) / n_test)
    return bool(z >= LEARNED_Z - eps and ratio_ok), float(z)


def _infer_num_classes(attrs: Mapping, notes: list[str]) -> int | None:
    if attrs.get("num_classes"):
        return int(attrs["num_classes"])
    name = attrs.get("dataset") or (attrs.get("config") or {}).get("dataset")
    from ..data import dataset_spec  # torch: only for stores from before the num_classes attr

    try:
        n = int(dataset_spec(str(name)).num_classes)
    except (KeyError, TypeError, ValueError):
        notes.append(f"number of classes unknown (dataset {name!r})")
        return None
    notes.append(f"num_classes {n} from dataset {name}")
    return n


def _infer_n_test(attrs: Mapping, num_classes: int | None, notes: list[str]) -> int | None:
    if attrs.get("n_test"):
        return int(attrs["n_test"])
    if attrs.get("test_size"):
        notes.append("n_test from the test_size attr")
        return int(attrs["test_size"])
    per_class = (attrs.get("config") or {}).get("test_per_class")
    if per_class and num_classes:
        notes.append(f"n_test inferred as test_per_class x num_classes = "
                     f"{per_class} x {num_classes}")
        return int(per_class) * num_classes
    notes.append("test-set size unknown: z not computed, decided on the 1.5 x chance rule alone")
    return None


def learning_verdict(attrs: Mapping) -> dict:
    """Whether the IRP network of a store with these attrs learned: the dense network's test
    accuracy (iteration 1, full mask) against chance.

    Returns ``dense_accuracy`` and ``chance`` as fractions, ``n_test`` (0 when unknown), ``z``,
    ``learned`` (see :func:`above_chance`) and a one-line ``message``. Stores written before the
    ``n_test``/``num_classes`` attrs get them inferred (said in the message); never raises.
    """
    notes: list[str] = []
    num_classes = _infer_num_classes(attrs, notes)
    chance = float(attrs["chance"]) if attrs.get("chance") else (
        1.0 / num_classes if num_classes else float("nan"))
    n_test = _infer_n_test(attrs, num_classes, notes)
    accs = attrs.get("test_accuracy") or []
    if attrs.get("dense_test_accuracy") is not None:
        acc = float(attrs["dense_test_accuracy"]) / 100.0
    elif accs:
        acc = float(accs[0]) / 100.0
    else:
        acc = float("nan")
    learned, z = above_chance(acc, n_test, chance)
    on = f"{n_test} test images" if n_test else "an unknown number of test images"
    if not math.isfinite(acc):
        head = "no dense accuracy (no trained iteration committed, or none evaluated)"
        verdict = "cannot tell whether the network learned"
    else:
        head = f"dense accuracy {100 * acc:.1f} % on {on}, chance {100 * chance:.3g} %"
        verdict = ("clearly above chance" if learned else "NOT clearly above chance") + (
            f" (z={z:.1f})" if math.isfinite(z) else "")
    note = f" [store predates the learning-check attrs: {'; '.join(notes)}]" if notes else ""
    return {"dense_accuracy": acc, "n_test": int(n_test or 0), "chance": chance,
            "learned": learned, "z": z, "message": f"{head}: {verdict}{note}"}
