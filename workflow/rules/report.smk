# Tables (tidy CSV + Markdown + an HTML page of it), figures (PNG, PDF, SVG) and the claims ledger;
# `snakemake --report report.html` embeds the figures, tables and ledger present.


rule table:
    input:
        metrics=lambda w: [p for p, _ in wc.table_inputs(config, w.table)],
        sources=lambda w: wc.table_sources(config, w.table),
    output:
        csv="results/{table}.csv",
        md="results/{table}.md",
        html=report("results/{table}.html", caption="../report/table.rst", category="Tables",
                    labels={"table": "{table}"}),
    params:
        labels=lambda w: wc.labels_json(wc.table_inputs(config, w.table)),
        profile=config["profile"],
    log:
        "results/logs/table/{table}.log",
    benchmark:
        "results/benchmarks/table/{table}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=1000,
        runtime=10,
    threads: JOB_THREADS
    shell:
        "python -m autosparse table --name {wildcards.table} --metrics {input.metrics}"
        " --labels {params.labels:q} --profile {params.profile} --out {output.csv} > {log} 2>&1"


rule figure:
    input:
        lambda w: [p for p, _ in wc.figure_inputs(config, w.figure)],
    output:
        png=report("results/figures/{figure}.png", caption="../report/figure.rst",
                   category="Figures", labels={"figure": "{figure}"}),
        pdf="results/figures/{figure}.pdf",   # written beside the PNG by the figure CLI
        svg="results/figures/{figure}.svg",
    params:
        labels=lambda w: wc.labels_json(wc.figure_inputs(config, w.figure)),
    log:
        "results/logs/figure/{figure}.log",
    benchmark:
        "results/benchmarks/figure/{figure}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    threads: JOB_THREADS
    shell:
        "python -m autosparse figure --name {wildcards.figure} --inputs {input} --labels {params.labels:q}"
        " --out {output.png} > {log} 2>&1"


rule claims:
    input:
        lambda w: wc.claims_inputs(config),
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
        mem_mb=2000,
        runtime=10,
    threads: JOB_THREADS
    shell:
        "python -m autosparse claims --config-json {params.config:q} --out {output.csv} > {log} 2>&1"
