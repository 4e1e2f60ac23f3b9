"""Figures of the paper (seaborn), one module per kind: survival (Fig. 1), accuracy (Figs. 3, 6,
ablations, layerwise, neuron collapse), scorer (Figs. 4, 5)."""
