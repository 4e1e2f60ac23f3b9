"""The Snakemake side of AutoSparse: planning the DAG, torch-free (the Snakefile imports it).

    paths        artifact names and paths: the one place that builds and parses them
    config       loading a profile (config files merged as Snakemake merges them), checks
    stages       how a profile names IRP runs, scorers, targets, method variants; stage inputs
    experiments  every table, figure and the claims ledger, each with its planning function
    args         the command-line arguments of each stage job
    shapes       layer shapes, FLOPs and dataset sizes (no torch)
    rates        calibrated device rates, method costs, artifact sizes on disk
    costs        one job's estimate and its SLURM runtime / mem_mb request
    jobs         the DAG's jobs as the rules declare them, critical path
    plan         ``python -m autosparse plan``: the cost plan of a target

A profile flows config -> experiments (what each target reads) -> stages (the artifacts behind
it) -> jobs (the rules producing them) -> costs -> plan; paths names every file on the way.
"""
