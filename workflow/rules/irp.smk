# Iterative rewind pruning (App. A): N x (train -> score -> prune -> rewind) into a zarr store.
# The partial store lives in results/.work/irp/<run>-<identity>.zarr, not in the output (which
# Snakemake deletes when a job fails): a rerun after a kill, time limit or preemption continues
# at the first uncommitted iteration (mid-iteration from the epoch checkpoint).


rule irp:
    output:
        directory("results/irp/{irp}.zarr"),
    params:
        args=lambda w: wc.irp_args(config, w.irp),
    log:
        "results/logs/irp/{irp}.log",
    benchmark:
        "results/benchmarks/irp/{irp}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["irp"]["mem_mb"],
        runtime=config["irp"]["runtime"],
        gpu=GPU,
    shell:
        RUN + "python -m autosparse irp {params.args} --work results/.work/irp --out {output}"
        " > {log} 2>&1"
