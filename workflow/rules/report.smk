# Tables (tidy CSV + Markdown + an HTML page of it), figures (PNG, PDF, SVG) and the claims ledger;
# `snakemake --report report.html` embeds the figures, tables and ledger present.


rule table:
    input:
        metrics=lambda w: [p for p, _ in experiments.table_inputs(config, w.table)],
        sources=lambda w: experiments.table_sources(config, w.table),
    output:
        csv="results/{table}.csv",
        md="results/{table}.md",
        html=report("results/{table}.html", caption="../report/table.rst", category="Tables",
                    labels={"table": "{table}"}),
    params:
        labels=lambda w: experiments.labels_json(experiments.table_inputs(config, w.table)),
        profile=config["profile"],
    log:
        "results/logs/table/{table}.log",
    benchmark:
        "results/benchmarks/table/{table}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=planned("table", "mem_mb"),
        runtime=planned("table", "runtime"),
    threads: JOB_THREADS
    shell:
        "python -m autosparse table --name {wildcards.table} --metrics {input.metrics}"
        " --labels {params.labels:q} --profile {params.profile} --out {output.csv} > {log} 2>&1"


rule figure:
    input:
        lambda w: [p for p, _ in experiments.figure_inputs(config, w.figure)],
    output:
        png=report("results/figures/{figure}.png", caption="../report/figure.rst",
                   category="Figures", labels={"figure": "{figure}"}),
        pdf="results/figures/{figure}.pdf",   # written beside the PNG by the figure CLI
        svg="results/figures/{figure}.svg",
    params:
        labels=lambda w: experiments.labels_json(experiments.figure_inputs(config, w.figure)),
    log:
        "results/logs/figure/{figure}.log",
    benchmark:
        "results/benchmarks/figure/{figure}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=planned("figure", "mem_mb"),
        runtime=planned("figure", "runtime"),
    threads: JOB_THREADS
    shell:
        "python -m autosparse figure --name {wildcards.figure} --inputs {input} --labels {params.labels:q}"
        " --out {output.png} > {log} 2>&1"


rule claims:
    input:
        lambda w: experiments.claims_inputs(config),
    output:
        csv="results/claims.csv",
        md="results/claims.md",
        html=report("results/claims.html", caption="../report/claims.rst",
                    category="Claims ledger"),
    params:
        config=json.dumps(config, sort_keys=True, separators=(",", ":")),
    log:
        "results/logs/claims/claims.log",
    benchmark:
        "results/benchmarks/claims/claims.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=planned("claims", "mem_mb"),
        runtime=planned("claims", "runtime"),
    threads: JOB_THREADS
    shell:
        "python -m autosparse claims --config-json {params.config:q} --out {output.csv} > {log} 2>&1"
