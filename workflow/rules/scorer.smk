# AutoS scorer (App. B.3): a backbone regressing survival scores from (theta_0, g_0) features.


rule scorer:
    input:
        lambda w: wp.survival_path(wp.parse_scorer(w.scorer)["survival"]),
    output:
        "results/scorers/{scorer}.pt",
    params:
        args=lambda w: job_args.scorer_args(config, w.scorer),
    log:
        "results/logs/scorer/{scorer}.log",
    benchmark:
        "results/benchmarks/scorer/{scorer}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("scorer", "mem_mb"),
        runtime=planned("scorer", "runtime"),
        gpu=GPU,
    shell:
        RUN + "python -m autosparse scorer-train --data {input} {params.args} --out {output} > {log} 2>&1"
