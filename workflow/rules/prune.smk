# Pruning at initialization: one mask store per target x method variant x sparsity x seed.


rule prune:
    input:
        lambda w: wc.prune_inputs(w.variant),
    output:
        directory("results/masks/{target}/{variant}/s{sparsity}/seed{seed}.zarr"),
    params:
        args=lambda w: wc.prune_args(config, w.target, w.variant, w.sparsity, w.seed),
    log:
        "results/logs/prune/{target}/{variant}/s{sparsity}/seed{seed}.log",
    benchmark:
        "results/benchmarks/prune/{target}/{variant}/s{sparsity}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["prune"]["mem_mb"],
        runtime=config["prune"]["runtime"],
        gpu=GPU,
    shell:
        RUN + "python -m autosparse prune {params.args} --out {output} > {log} 2>&1"
