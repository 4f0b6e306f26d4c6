"""Layer 6, stages `train_cvae` and `generate`: the conditional VAE that simulates pre-miRNAs.

`network` holds the CVAE, `tokens` the image columns as its vocabulary, `conditions` the class and
attribute bins, `data` its training data, `train` the training stage; `posterior`, `sample`,
`request` and `refine` the steps of generation, `traversal` the latent walks, and `generate`
the stage.
"""
