# Training with the paper's App. C presets: the dense baseline and every pruned network.


rule train_dense:
    output:
        metrics="results/metrics/{target}/dense/seed{seed}.json",
        weights="results/weights/{target}/dense/seed{seed}.pt",
    params:
        args=lambda w: wc.train_args(config, w.target, w.seed),
    log:
        "results/logs/train_dense/{target}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_dense/{target}/seed{seed}.tsv"
    conda:
        "../../envs/autosparse.yaml"
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime"],
        gpu=GPU,
    shell:
        RUN + "python -m autosparse train {params.args} --save-weights {output.weights}"
        " --out {output.metrics} > {log} 2>&1"


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
    threads: config["train"]["threads"]
    resources:
        mem_mb=config["train"]["mem_mb"],
        runtime=config["train"]["runtime"],
        gpu=GPU,
    params:
        args=lambda w: wc.train_args(config, w.target, w.seed),
        # Epoch checkpoint outside the output: a rerun after a kill continues at the epoch in
        # progress (a checkpoint of another run is refused); removed once the job succeeded.
        ckpt="results/.work/retrain/{target}/{variant}/s{sparsity}/seed{seed}.pt",
    shell:
        RUN + "python -m autosparse train {params.args} --mask {input.mask}"
        " --checkpoint {params.ckpt} --out {output} > {log} 2>&1 && rm -f {params.ckpt}"
