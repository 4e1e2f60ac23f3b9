# Survival dataset (Eq. 4): one Parquet row per prunable weight, from one IRP store or a merge.


rule survival:
    input:
        lambda w: stages.survival_inputs(config, w.survival),
    output:
        directory("results/survival/{survival}"),
    log:
        "results/logs/survival/{survival}.log",
    benchmark:
        "results/benchmarks/survival/{survival}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=planned("survival", "mem_mb"),
        runtime=planned("survival", "runtime"),
    threads: JOB_THREADS
    shell:
        "python -m autosparse survival --irp {input} --out {output} > {log} 2>&1"
