"""byol_course: BYOL (Bootstrap Your Own Latent, Grill et al. 2020) built one piece at a time.

One module per chapter of the course:
    data       datasets as uint8 tensors (embedded default, CIFAR-10, STL-10, image folders)
    embedded   the procedurally generated default dataset
    augment    BYOL's two asymmetric view pipelines, per-sample and batched
    networks   ResNet-18 (CIFAR form), ResNet-50, a small ConvNet, MLP heads
    objective  the BYOL loss, symmetrised over the two views
    ema        the EMA target update and the tau schedule
    train      the training step, optimisers, schedules, checkpoints, the loop
    evaluate   kNN, linear probe, collapse metrics
    visualize  UMAP, augmentation grids, curves, spectra
"""

__version__ = "0.1.0"
