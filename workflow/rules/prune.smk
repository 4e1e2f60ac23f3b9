# Pruning at initialization: one mask store per target x method variant x sparsity x seed.
# Methods in prune.score_once (AutoS) score theta_0 once per target x variant x seed (rule score);
# their pruning jobs threshold those scores at each sparsity.


rule score:
    input:
        lambda w: stages.score_inputs(w.variant, config, w.target, w.seed),
    output:
        directory("results/scores/{target}/{variant}/seed{seed}.zarr"),
    params:
        args=lambda w: job_args.score_args(config, w.target, w.variant, w.seed),
    log:
        "results/logs/score/{target}/{variant}/seed{seed}.log",
    benchmark:
        "results/benchmarks/score/{target}/{variant}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("score", "mem_mb"),
        runtime=planned("score", "runtime"),
        gpu=GPU,
    shell:
        RUN + "python -m autosparse score {params.args} --out {output} > {log} 2>&1"


rule prune:
    input:
        lambda w: stages.prune_inputs(config, w.target, w.variant, w.seed),
    output:
        directory("results/masks/{target}/{variant}/s{sparsity}/seed{seed}.zarr"),
    params:
        args=lambda w: job_args.prune_args(config, w.target, w.variant, w.sparsity, w.seed),
    log:
        "results/logs/prune/{target}/{variant}/s{sparsity}/seed{seed}.log",
    benchmark:
        "results/benchmarks/prune/{target}/{variant}/s{sparsity}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("prune", "mem_mb"),
        runtime=planned("prune", "runtime"),
        gpu=GPU,
    shell:
        RUN + "python -m autosparse prune {params.args} --out {output} > {log} 2>&1"
