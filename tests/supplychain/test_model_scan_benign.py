"""The allowlist against real pickles: every scikit-learn estimator family, pandas frames of
every dtype, numpy and scipy arrays, torch state dicts and checkpoints, joblib dumps. Each is
made here with pickle.dumps / torch.save / joblib.dump of a small fitted object (creating
bytes, never loading them) and must come out ``safe``."""

from __future__ import annotations

import argparse
import datetime
import os
import pickle
import random
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cpmap.supplychain.modelfiles import ModelVerdict, scan_file

RNG = np.random.default_rng(0)
X = RNG.normal(size=(24, 4))
Y = (X[:, 0] > 0).astype(int)
YR = X[:, 1]
POS = np.abs(X)


def _flagged(tmp_path: Path, objs: dict[str, Any], protocols: tuple[int, ...] = (2, 5)
             ) -> dict[str, list[str]]:
    out = {}
    for name, obj in objs.items():
        for proto in protocols:
            path = tmp_path / f"{name}.p{proto}.pkl"
            path.write_bytes(pickle.dumps(obj, protocol=proto))
            report = scan_file(path)
            if report.verdict is not ModelVerdict.SAFE:
                out[f"{name} (protocol {proto})"] = [r.message for r in report.reasons
                                                     if r.verdict is not ModelVerdict.SAFE]
    return out


def _sklearn_families() -> dict[str, dict[str, Callable[[], Any]]]:
    from sklearn import (
        calibration,
        cluster,
        compose,
        covariance,
        cross_decomposition,
        decomposition,
        discriminant_analysis,
        dummy,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        isotonic,
        kernel_approximation,
        kernel_ridge,
        linear_model,
        manifold,
        mixture,
        model_selection,
        multiclass,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        random_projection,
        semi_supervised,
        svm,
        tree,
    )
    from sklearn.metrics import DistanceMetric

    lm, en, nb, pp, dec = linear_model, ensemble, neighbors, preprocessing, decomposition
    docs = ["red green blue", "green blue sky", "sky red sun"]
    return {
        "linear": {
            "logistic": lambda: lm.LogisticRegression().fit(X, Y),
            "ridge": lambda: lm.Ridge().fit(X, YR), "lasso": lambda: lm.Lasso().fit(X, YR),
            "sgd": lambda: lm.SGDClassifier(max_iter=5, tol=None).fit(X, Y),
            "elasticnet": lambda: lm.ElasticNet().fit(X, YR),
            "huber": lambda: lm.HuberRegressor(max_iter=20).fit(X, YR),
            "ransac": lambda: lm.RANSACRegressor().fit(X, YR),
            "poisson": lambda: lm.PoissonRegressor().fit(X, np.abs(YR))},
        "tree": {"classifier": lambda: tree.DecisionTreeClassifier().fit(X, Y),
                 "regressor": lambda: tree.DecisionTreeRegressor().fit(X, YR),
                 "extra": lambda: tree.ExtraTreeClassifier().fit(X, Y)},
        "ensemble": {
            "forest": lambda: en.RandomForestClassifier(n_estimators=2).fit(X, Y),
            "boosting": lambda: en.GradientBoostingClassifier(n_estimators=2).fit(X, Y),
            "hist": lambda: en.HistGradientBoostingClassifier(max_iter=2).fit(X, Y),
            "hist_regressor": lambda: en.HistGradientBoostingRegressor(max_iter=2).fit(X, YR),
            "ada": lambda: en.AdaBoostClassifier(n_estimators=2).fit(X, Y),
            "bagging": lambda: en.BaggingClassifier(n_estimators=2).fit(X, Y),
            "isolation": lambda: en.IsolationForest(n_estimators=2).fit(X),
            "voting": lambda: en.VotingClassifier([("a", lm.LogisticRegression()),
                                                   ("b", tree.DecisionTreeClassifier())]).fit(X, Y),
            "stacking": lambda: en.StackingClassifier([("a", lm.LogisticRegression())],
                                                      cv=2).fit(X, Y)},
        "svm": {"svc": lambda: svm.SVC().fit(X, Y), "svr": lambda: svm.SVR().fit(X, YR),
                "linear": lambda: svm.LinearSVC().fit(X, Y),
                "oneclass": lambda: svm.OneClassSVM().fit(X)},
        "neighbors": {
            "kd_tree": lambda: nb.KNeighborsClassifier(algorithm="kd_tree").fit(X, Y),
            "ball_tree": lambda: nb.KNeighborsClassifier(algorithm="ball_tree").fit(X, Y),
            "manhattan": lambda: nb.KNeighborsRegressor(metric="manhattan",
                                                        algorithm="ball_tree").fit(X, YR),
            "brute": lambda: nb.KNeighborsClassifier(algorithm="brute").fit(X, Y),
            "radius": lambda: nb.RadiusNeighborsClassifier(radius=5.0).fit(X, Y),
            "kde": lambda: nb.KernelDensity().fit(X),
            "lof": lambda: nb.LocalOutlierFactor(novelty=True).fit(X),
            "centroid": lambda: nb.NearestCentroid().fit(X, Y),
            "KDTree": lambda: nb.KDTree(X), "BallTree": lambda: nb.BallTree(X),
            "DistanceMetric": lambda: DistanceMetric.get_metric("minkowski", p=3),
            "nca": lambda: nb.NeighborhoodComponentsAnalysis(max_iter=2).fit(X, Y)},
        "naive_bayes": {"gaussian": lambda: naive_bayes.GaussianNB().fit(X, Y),
                        "multinomial": lambda: naive_bayes.MultinomialNB().fit(POS, Y),
                        "bernoulli": lambda: naive_bayes.BernoulliNB().fit(X, Y),
                        "complement": lambda: naive_bayes.ComplementNB().fit(POS, Y),
                        "categorical": lambda: naive_bayes.CategoricalNB().fit(X > 0, Y)},
        "cluster": {
            "kmeans": lambda: cluster.KMeans(2, n_init=1).fit(X),
            "minibatch": lambda: cluster.MiniBatchKMeans(2, n_init=1).fit(X),
            "dbscan": lambda: cluster.DBSCAN().fit(X),
            "agglomerative": lambda: cluster.AgglomerativeClustering().fit(X),
            "birch": lambda: cluster.Birch().fit(X), "hdbscan": lambda: cluster.HDBSCAN().fit(X),
            "optics": lambda: cluster.OPTICS(min_samples=3).fit(X),
            "meanshift": lambda: cluster.MeanShift().fit(X)},
        "decomposition": {
            "pca": lambda: dec.PCA(2).fit(X), "svd": lambda: dec.TruncatedSVD(2).fit(X),
            "nmf": lambda: dec.NMF(2, max_iter=5).fit(POS),
            "ica": lambda: dec.FastICA(2, max_iter=5).fit(X),
            "kernel_pca": lambda: dec.KernelPCA(2).fit(X),
            "lda": lambda: dec.LatentDirichletAllocation(2, max_iter=2).fit(POS),
            "incremental": lambda: dec.IncrementalPCA(2).fit(X)},
        "preprocessing": {
            "standard": lambda: pp.StandardScaler().fit(X),
            "minmax": lambda: pp.MinMaxScaler().fit(X),
            "robust": lambda: pp.RobustScaler().fit(X),
            "onehot": lambda: pp.OneHotEncoder().fit([["a"], ["b"]]),
            "ordinal": lambda: pp.OrdinalEncoder().fit([["a"], ["b"]]),
            "label": lambda: pp.LabelEncoder().fit(["a", "b"]),
            "poly": lambda: pp.PolynomialFeatures().fit(X),
            "kbins": lambda: pp.KBinsDiscretizer(n_bins=3).fit(X),
            "power": lambda: pp.PowerTransformer().fit(X),
            "quantile": lambda: pp.QuantileTransformer(n_quantiles=10).fit(X),
            "function_log1p": lambda: pp.FunctionTransformer(np.log1p).fit(X),
            "spline": lambda: pp.SplineTransformer().fit(X),
            "target": lambda: pp.TargetEncoder().fit([["a"], ["b"]] * 12, Y)},
        "pipeline": {
            "pipeline": lambda: pipeline.make_pipeline(pp.StandardScaler(),
                                                       lm.LogisticRegression()).fit(X, Y),
            "union": lambda: pipeline.FeatureUnion([("p", dec.PCA(1)),
                                                    ("s", pp.StandardScaler())]).fit(X),
            "columns": lambda: compose.ColumnTransformer(
                [("s", pp.StandardScaler(), [0, 1])], remainder="passthrough").fit(X),
            "target": lambda: compose.TransformedTargetRegressor(
                regressor=lm.Ridge(), func=np.log1p, inverse_func=np.expm1).fit(X, np.abs(YR))},
        "neural_network": {
            "mlp": lambda: neural_network.MLPClassifier(max_iter=3).fit(X, Y),
            "mlp_regressor": lambda: neural_network.MLPRegressor(max_iter=3).fit(X, YR),
            "rbm": lambda: neural_network.BernoulliRBM(n_iter=1).fit(POS / POS.max())},
        "others": {
            "lda": lambda: discriminant_analysis.LinearDiscriminantAnalysis().fit(X, Y),
            "qda": lambda: discriminant_analysis.QuadraticDiscriminantAnalysis().fit(X, Y),
            "gp_classifier": lambda: gaussian_process.GaussianProcessClassifier().fit(X, Y),
            "gp_regressor": lambda: gaussian_process.GaussianProcessRegressor(
                kernel=gaussian_process.kernels.RBF() + gaussian_process.kernels.WhiteKernel()
            ).fit(X, YR),
            "gmm": lambda: mixture.GaussianMixture(2).fit(X),
            "imputer": lambda: impute.SimpleImputer().fit(X),
            "knn_imputer": lambda: impute.KNNImputer().fit(X),
            "kbest": lambda: feature_selection.SelectKBest(feature_selection.f_classif,
                                                           k=2).fit(X, Y),
            "mutual_info": lambda: feature_selection.SelectKBest(
                feature_selection.mutual_info_classif, k=2).fit(X, Y),
            "chi2": lambda: feature_selection.SelectPercentile(feature_selection.chi2
                                                               ).fit(POS, Y),
            "rfe": lambda: feature_selection.RFE(lm.LogisticRegression(),
                                                 n_features_to_select=2).fit(X, Y),
            "isomap": lambda: manifold.Isomap(n_components=2).fit(X),
            "isotonic": lambda: isotonic.IsotonicRegression().fit(X[:, 0], YR),
            "kernel_ridge": lambda: kernel_ridge.KernelRidge().fit(X, YR),
            "pls": lambda: cross_decomposition.PLSRegression(2).fit(X, YR),
            "calibrated": lambda: calibration.CalibratedClassifierCV(
                lm.LogisticRegression(), cv=2).fit(X, Y),
            "one_vs_rest": lambda: multiclass.OneVsRestClassifier(
                lm.LogisticRegression()).fit(X, Y),
            "grid_search": lambda: model_selection.GridSearchCV(
                lm.Ridge(), {"alpha": [1.0, 2.0]}, cv=2,
                scoring="neg_mean_squared_error").fit(X, YR),
            "dummy": lambda: dummy.DummyClassifier().fit(X, Y),
            "label_propagation": lambda: semi_supervised.LabelPropagation().fit(X, Y),
            "tfidf": lambda: feature_extraction.text.TfidfVectorizer().fit(docs),
            "count_ngrams": lambda: feature_extraction.text.CountVectorizer(
                ngram_range=(1, 2)).fit(docs),
            "dict": lambda: feature_extraction.DictVectorizer().fit([{"a": 1}, {"b": 2}]),
            "min_cov_det": lambda: covariance.MinCovDet().fit(X),
            "random_projection": lambda: random_projection.GaussianRandomProjection(2).fit(X),
            "nystroem": lambda: kernel_approximation.Nystroem(n_components=5).fit(X)},
    }


FAMILIES = sorted(_sklearn_families())


@pytest.mark.parametrize("family", FAMILIES)
def test_every_scikit_learn_family_is_safe(tmp_path: Path, family: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        objs = {name: make() for name, make in _sklearn_families()[family].items()}
    assert _flagged(tmp_path, objs) == {}


def _frames() -> dict[str, Any]:
    import pandas as pd

    n = 4
    cols = {
        "int": np.arange(n), "float": np.arange(n) * 1.5, "bool": [True, False] * 2,
        "uint8": np.arange(n, dtype=np.uint8), "complex": np.arange(n) + 1j,
        "datetime": pd.date_range("2026-01-01", periods=n),
        "datetime_utc": pd.date_range("2026-01-01", periods=n, tz="UTC"),
        "datetime_paris": pd.date_range("2026-01-01", periods=n, tz="Europe/Paris"),
        "timedelta": pd.to_timedelta(np.arange(n), unit="s"),
        "category": pd.Categorical(["x", "y"] * 2),
        "string_python": pd.array(["x", None, "z", "w"], dtype="string[python]"),
        "string_pyarrow": pd.array(["x", None, "z", "w"], dtype="string[pyarrow]"),
        "str_default": ["x", "y", "z", "w"],
        "period": pd.period_range("2026-01", periods=n, freq="M"),
        "interval": pd.interval_range(0, n),
        "sparse": pd.arrays.SparseArray([0, 0, 1, 0]),
        "Int64": pd.array([1, None, 3, 4], dtype="Int64"),
        "boolean": pd.array([True, None, False, True], dtype="boolean"),
        "Float64": pd.array([1.5, None, 3, 4], dtype="Float64"),
        "int64_pyarrow": pd.array([1, 2, 3, 4], dtype="int64[pyarrow]"),
        "object_mixed": [1, "x", 2.5, None],
    }
    out: dict[str, Any] = {f"frame_{k}": pd.DataFrame({"a": v}) for k, v in cols.items()}
    out["all_dtypes"] = pd.DataFrame(cols)
    out["multiindex"] = pd.DataFrame({"a": range(n)}, index=pd.MultiIndex.from_product(
        [[1, 2], ["x", "y"]]))
    out["datetime_index"] = pd.DataFrame({"a": range(n)},
                                         index=pd.date_range("2026", periods=n, freq="h"))
    out["series"] = pd.Series([1.0, 2.0], name="s")
    return out


def test_pandas_frames_of_every_dtype_are_safe(tmp_path: Path) -> None:
    assert _flagged(tmp_path, _frames()) == {}


def test_pandas_to_pickle_and_arrow_objects_are_safe(tmp_path: Path) -> None:
    import pandas as pd
    import pyarrow as pa

    frame = pd.DataFrame({"s": pd.array(["x", None], dtype="string[pyarrow]"), "f": [1.0, 2]})
    frame.to_pickle(tmp_path / "frame.pkl")
    frame.to_pickle(tmp_path / "frame.pkl.gz")
    table = pa.table({"a": [1, 2], "s": ["x", None], "l": [[1], []], "st": [{"x": 1}, {"x": 2}],
                      "d": pa.array(["a", "b"]).dictionary_encode(),
                      "ts": pa.array([1, 2], pa.timestamp("ms", tz="UTC")),
                      "dec": pa.array([1, 2], pa.decimal128(5, 2))})
    arrow_frame = pd.DataFrame({"f": pd.array([1.5], dtype="float64[pyarrow]"),
                                "l": pd.array([[1]], dtype=pd.ArrowDtype(pa.list_(pa.int64())))})
    objs = {"table": table, "chunked": pa.chunked_array([[1, 2], [3]]), "arrow_frame": arrow_frame}
    for name in ("frame.pkl", "frame.pkl.gz"):
        assert scan_file(tmp_path / name).verdict is ModelVerdict.SAFE, name
    assert _flagged(tmp_path, objs) == {}


def test_numpy_and_scipy_objects_are_safe(tmp_path: Path) -> None:
    import scipy.sparse as sp

    objs = {f"array_{d}": np.zeros(2, dtype=d) for d in (
        "float16", "float32", "float64", "longdouble", "int8", "uint64", "complex128", "bool",
        "datetime64[ns]", "timedelta64[s]", "<U3", "S2", "V4")}
    objs.update({
        "structured": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "fortran": np.asfortranarray(np.ones((2, 3))), "matrix": np.asmatrix(np.eye(2)),
        "masked": np.ma.masked_array([1, 2], mask=[0, 1]), "scalar": np.float64(1.5),
        "generator": np.random.default_rng(0), "random_state": np.random.RandomState(0),
        "legacy_state": np.random.get_state(), "csr": sp.csr_matrix(np.eye(3)),
        "coo_array": sp.coo_array(np.eye(2)), "python_rng": random.getstate(),
        "namespace": argparse.Namespace(lr=0.1), "aware": datetime.datetime(
            2026, 1, 1, tzinfo=datetime.UTC)})
    assert _flagged(tmp_path, objs) == {}


def _torch_files(tmp_path: Path) -> list[Path]:
    import torch

    net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                              torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Dropout(0.1),
                              torch.nn.Flatten(), torch.nn.Linear(2, 3), torch.nn.LayerNorm(3),
                              torch.nn.GELU())
    seq = torch.nn.ModuleDict({
        "lstm": torch.nn.LSTM(3, 4, batch_first=True), "gru": torch.nn.GRU(3, 4),
        "emb": torch.nn.Embedding(10, 3), "mha": torch.nn.MultiheadAttention(8, 2),
        "encoder": torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, 16), 1),
        "params": torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2))])})
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net[6](torch.ones(1, 2)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    ckpt = {"epoch": 3, "model_state_dict": net.state_dict(),
            "optimizer_state_dict": opt.state_dict(), "scheduler": sched.state_dict(),
            "loss": torch.tensor(0.5), "rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(), "python_rng": random.getstate(),
            "args": argparse.Namespace(lr=0.1), "dtype": torch.float16,
            "device": torch.device("cpu"), "size": torch.Size([2, 3])}
    quant = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(torch.nn.Linear(4, 4)),
                                                   {torch.nn.Linear}, dtype=torch.qint8)
    writers: dict[str, Callable[[Path], None]] = {
        "state_dict.pt": lambda p: torch.save(net.state_dict(), p),
        "full_module.pt": lambda p: torch.save(net, p),
        "recurrent_and_attention.pt": lambda p: torch.save(seq, p),
        "checkpoint.pt": lambda p: torch.save(ckpt, p),
        "checkpoint_legacy.pt": lambda p: torch.save(ckpt, p,
                                                     _use_new_zipfile_serialization=False),
        "optimizer_object.pt": lambda p: torch.save(opt, p),
        "scheduler_object.pt": lambda p: torch.save(sched, p),
        "quantized_state_dict.pt": lambda p: torch.save(quant.state_dict(), p),
        "dtypes.pt": lambda p: torch.save([torch.zeros(2, dtype=d) for d in (
            torch.float16, torch.bfloat16, torch.int8, torch.bool, torch.complex64)], p),
        "sparse.pt": lambda p: torch.save([torch.eye(3).to_sparse(),
                                           torch.eye(3).to_sparse_csr()], p),
        "view.pt": lambda p: torch.save({"a": torch.arange(6).view(2, 3)[:, 1]}, p),
        "spectral_norm_state.pt": lambda p: torch.save(
            torch.nn.utils.parametrizations.spectral_norm(torch.nn.Linear(2, 2)).state_dict(),
            p),
        "pickled_module.pkl": lambda p: p.write_bytes(pickle.dumps(
            {"t": torch.ones(2), "m": torch.nn.Linear(2, 2)})),
    }
    paths = []
    for name, write in writers.items():
        write(tmp_path / name)
        paths.append(tmp_path / name)
    return paths


def test_torch_state_dicts_and_checkpoints_are_safe(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        paths = _torch_files(tmp_path)
    flagged = {p.name: [r.message for r in scan_file(p).reasons]
               for p in paths if scan_file(p).verdict is not ModelVerdict.SAFE}
    assert flagged == {}


def test_joblib_dumps_are_safe(tmp_path: Path) -> None:
    import joblib
    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    dumps: dict[str, tuple[Any, Any]] = {
        "forest.joblib": (RandomForestClassifier(n_estimators=2).fit(X, Y), 0),
        "knn.joblib": (KNeighborsClassifier().fit(X, Y), 0),
        "frame.joblib": (pd.DataFrame({"a": [1, 2], "s": ["x", "y"]}), 0),
        "lzma.joblib": ({"w": np.arange(100.0)}, ("lzma", 3)),
        "gzip.joblib": ({"w": np.arange(100.0)}, ("gzip", 3)),
        "bz2.joblib": ({"w": np.arange(100.0)}, ("bz2", 3)),
        "zlib.joblib": ({"w": np.arange(100.0)}, 3),
        "arrays.joblib": ([np.zeros(3, dtype=d) for d in (
            "<U3", "S2", "<M8[ns]", "complex128", "bool", "V4", [("a", "<i4")])], 0),
        "object_array.joblib": (np.array([1, "x", None], dtype=object), 0),
    }
    flagged = {}
    for name, (obj, compress) in dumps.items():
        joblib.dump(obj, tmp_path / name, compress=compress)
        report = scan_file(tmp_path / name)
        if report.verdict is not ModelVerdict.SAFE:
            flagged[name] = [r.message for r in report.reasons]
    assert flagged == {}


@pytest.mark.parametrize(("label", "make"), [
    ("FunctionTransformer(os.system)", lambda: _function_transformer(os.system)),
    ("SelectKBest(score_func=eval)", lambda: _select_k_best(eval)),
    ("frame holding pandas.read_pickle", lambda: {"f": __import__("pandas").read_pickle}),
])
def test_the_allowlisted_families_still_catch_a_planted_callable(
        tmp_path: Path, label: str, make: Callable[[], Any]) -> None:
    path = tmp_path / "planted.pkl"
    path.write_bytes(pickle.dumps(make()))
    assert scan_file(path).verdict is ModelVerdict.MALICIOUS, label


def _function_transformer(func: Callable[..., Any]) -> Any:
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(func=func)


def _select_k_best(func: Callable[..., Any]) -> Any:
    from sklearn.feature_selection import SelectKBest

    return SelectKBest(score_func=func)
