"""Training with PyTorch Lightning (never imported by ``neuralcodec.codecs``)."""
