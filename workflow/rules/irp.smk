# Iterative rewind pruning (App. A): N x (train -> score -> prune -> rewind) into a zarr store.
# The partial store lives in results/.work/irp/<run>-<identity>.zarr, not in the output (which
# Snakemake deletes when a job fails): a rerun after a kill, time limit or preemption continues
# at the first uncommitted iteration (mid-iteration from the epoch checkpoint). With
# `irp.max_runtime` a job stops at a committed iteration before that many seconds (exit 75) and
# its retry (`irp.retries`) continues: a SLURM time limit shorter than the run costs nothing.


rule irp:
    output:
        directory("results/irp/{irp}.zarr"),
    params:
        args=lambda w: job_args.irp_args(config, w.irp),
    log:
        "results/logs/irp/{irp}.log",
    benchmark:
        "results/benchmarks/irp/{irp}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("irp", "mem_mb"),
        runtime=planned("irp", "runtime"),
        gpu=GPU,
        # A resource, not a param: changing the budget leaves finished stores up to date.
        max_runtime_s=config["irp"]["max_runtime"],
    retries: config["irp"]["retries"]
    shell:
        RUN + "python -m autosparse irp {params.args} --work results/.work/irp"
        " --max-runtime {resources.max_runtime_s} --out {output} > {log} 2>&1"
