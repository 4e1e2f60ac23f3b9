# Training with the paper's App. C presets: the dense baseline and every pruned network. Epoch
# checkpoints live outside the outputs (results/.work/<rule>/...): a rerun after a kill continues
# at the epoch in progress (a checkpoint of another run is refused); removed once the job
# succeeded. With `train.max_runtime` a job stops after an epoch before that many seconds (exit 75)
# and its retry (`train.retries`) continues. max_runtime_s is a resource, not a param: changing
# the budget leaves finished artifacts up to date.


rule train_dense:
    output:
        metrics="results/metrics/{target}/dense/seed{seed}.json",
        weights="results/weights/{target}/dense/seed{seed}.pt",
    log:
        "results/logs/train_dense/{target}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_dense/{target}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("train_dense", "mem_mb"),
        runtime=planned("train_dense", "runtime"),
        gpu=GPU,
        max_runtime_s=config["train"]["max_runtime"],
    retries: config["train"]["retries"]
    params:
        args=lambda w: job_args.train_args(config, w.target, w.seed),
        # one checkpoint per run identity (train: "{identity}" -> its hash): another config's
        # state is never resumed, nor does it block this run
        ckpt=lambda w: f"results/.work/train_dense/{w.target}/seed{w.seed}-{{identity}}.pt",
        ckpts="results/.work/train_dense/{target}/seed{seed}-*.pt",
    shell:
        RUN + "python -m autosparse train {params.args} --save-weights {output.weights}"
        " --checkpoint {params.ckpt:q} --max-runtime {resources.max_runtime_s}"
        " --out {output.metrics} > {log} 2>&1 && rm -f {params.ckpts}"


rule retrain:
    input:
        mask="results/masks/{target}/{variant}/s{sparsity}/seed{seed}.zarr",
    output:
        "results/metrics/{target}/{variant}/s{sparsity}/seed{seed}.json",
    log:
        "results/logs/retrain/{target}/{variant}/s{sparsity}/seed{seed}.log",
    benchmark:
        "results/benchmarks/retrain/{target}/{variant}/s{sparsity}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: JOB_THREADS
    resources:
        mem_mb=planned("retrain", "mem_mb"),
        runtime=planned("retrain", "runtime"),
        gpu=GPU,
        max_runtime_s=config["train"]["max_runtime"],
    retries: config["train"]["retries"]
    params:
        args=lambda w: job_args.train_args(config, w.target, w.seed),
        ckpt=lambda w: (f"results/.work/retrain/{w.target}/{w.variant}/s{w.sparsity}/"
                        f"seed{w.seed}-{{identity}}.pt"),
        ckpts="results/.work/retrain/{target}/{variant}/s{sparsity}/seed{seed}-*.pt",
    shell:
        RUN + "python -m autosparse train {params.args} --mask {input.mask}"
        " --checkpoint {params.ckpt:q} --max-runtime {resources.max_runtime_s}"
        " --out {output} > {log} 2>&1 && rm -f {params.ckpts}"
