# Iterative rewind pruning (App. A): N x (train -> score -> prune -> rewind) into a zarr store.


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
        RUN + "python -m autosparse irp {params.args} --out {output} > {log} 2>&1"
