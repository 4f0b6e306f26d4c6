"""Layer 6, stages `train_cnn`, `evaluate_cnn` and `classify`: the pre-miRNA classifier.

`network` holds the CNNs, `config` their training settings, `loop` the training loop, `train` the
stage, `pretrain` DeepMir's pre-training set, `predict` the scores of a checkpoint; `features` and
`feature_model` the boosted trees beside the CNN; `evaluate` and `classify` the later stages.
"""
