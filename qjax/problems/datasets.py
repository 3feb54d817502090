"""Data sets for the classifier: shipped with scikit-learn (no download), split and scaled into angles.

The split is stratified and seeded, and the feature scaler is fit on the training
split only. Each data set is a ``problem=`` of ``+experiment=classifier``.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from qjax.errors import ConfigError

__all__ = ["Dataset", "DATASETS", "load_dataset", "split_and_scale", "ANGLE_RANGE"]

#: Features are scaled (min-max, fit on the training split) into this range of angles (radians).
ANGLE_RANGE = (-np.pi / 2, np.pi / 2)


class Dataset(NamedTuple):
    """A split, scaled data set: ``x_*: (N, F) float64`` angles in :data:`ANGLE_RANGE` (train), ``y_*: (N,) int``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def num_features(self) -> int:
        return self.x_train.shape[1]


def _iris(cfg) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    if cfg.features is not None:
        x = x[:, list(cfg.features)]
    return x, y


def _moons(cfg) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    return make_moons(n_samples=cfg.n_samples, noise=cfg.noise, random_state=cfg.seed)


def _breast_cancer(cfg) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    return load_breast_cancer(return_X_y=True)


#: ``problem.name`` → ``cfg -> (x (N, F), y (N,))`` raw features and integer labels.
DATASETS: dict[str, Callable[[Any], tuple[np.ndarray, np.ndarray]]] = {
    "iris": _iris,
    "moons": _moons,
    "breast_cancer": _breast_cancer,
}


def split_and_scale(
    x: np.ndarray, y: np.ndarray, *, test_size: float, seed: int, pca: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train/test split; features scaled into :data:`ANGLE_RANGE` by a scaler fit on train only.

    ``pca``: reduce to this many principal components first (standardised, fit on train only).
    Returns ``x_train (N_tr, F), x_test (N_te, F), y_train (N_tr,), y_test (N_te,)``.
    """
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    x_train, x_test, y_train, y_test = train_test_split(
        np.asarray(x, float), np.asarray(y), test_size=test_size, random_state=seed, stratify=y
    )
    steps = [StandardScaler(), PCA(n_components=pca, random_state=seed)] if pca is not None else []
    scaler = make_pipeline(*steps, MinMaxScaler(feature_range=ANGLE_RANGE)).fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test), y_train.astype(np.int32), y_test.astype(np.int32)


def load_dataset(cfg) -> Dataset:
    """The data set named by ``cfg.name`` (a ``problem=`` config), split and scaled."""
    try:
        loader = DATASETS[cfg.name]
    except KeyError:
        raise ConfigError(f"problem={cfg.name} is not a data set; choose one of {', '.join(DATASETS)}") from None
    x, y = loader(cfg)
    _, y = np.unique(y, return_inverse=True)
    if cfg.test_size * len(y) < len(np.unique(y)):
        raise ConfigError(
            f"problem.test_size={cfg.test_size} leaves fewer test samples than classes; "
            "raise it (e.g. problem.test_size=0.25)"
        )
    x_train, x_test, y_train, y_test = split_and_scale(
        x, y, test_size=cfg.test_size, seed=cfg.seed, pca=getattr(cfg, "pca", None)
    )
    return Dataset(cfg.name, x_train, y_train, x_test, y_test, int(y.max()) + 1)
