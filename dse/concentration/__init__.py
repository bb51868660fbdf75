"""Token concentration: Focus SEC + SIC and the AdapTiV-, CMC-, FrameFusion-like and random
baselines as torch algorithms (`algorithms`), as per-layer policies (`methods`), as hooks inside
transformers models (`hooks`), measured on real video through a real ViT (`measure`) and the
`focus-dse concentrate` command (`cli`).

Kept free of imports so that the command line starts without loading torch.
"""

METHODS = ("focus", "adaptiv", "cmc", "framefusion", "random")
