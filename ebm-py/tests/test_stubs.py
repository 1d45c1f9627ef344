"""The type stubs describe what the modules export."""

import ast
import inspect
import pathlib

import ebm
import ebm.torch


def stub_names(module, cls=None):
    path = pathlib.Path(module.__file__)
    stem = "__init__" if path.stem == "__init__" else module.__name__.rsplit(".", 1)[-1]
    tree = ast.parse((path.parent / f"{stem}.pyi").read_text())
    body = tree.body
    if cls is not None:
        body = next(n for n in body if isinstance(n, ast.ClassDef) and n.name == cls).body
    return {n.name for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def test_model_stub_lists_every_method():
    public = {n for n in dir(ebm.Model) if not n.startswith("_")}
    assert public == stub_names(ebm._ebm, "Model")


def test_package_stubs_list_every_function():
    assert {"Mlp", "load", "sample", "train", "train_defaults"} <= stub_names(ebm)
    assert set(ebm.torch.__all__) == stub_names(ebm.torch)


def test_every_public_function_documents_its_math():
    for f in [ebm.load, ebm.sample, ebm.train, ebm.Mlp.from_torch] + [getattr(ebm.torch, n) for n in ebm.torch.__all__]:
        assert inspect.getdoc(f), f.__name__
    for name in ("energy_score_hess_diag", "exact_sm_loss_grad", "nce_loss_grad"):
        assert "∇" in getattr(ebm.Model, name).__doc__ or "∂" in getattr(ebm.Model, name).__doc__


def test_train_stub_lists_every_setting():
    path = pathlib.Path(ebm.__file__).parent / "__init__.pyi"
    train = next(n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef) and n.name == "train")
    keywords = {a.arg for a in train.args.kwonlyargs}
    assert keywords == set(ebm.train_defaults()) - {"data"} | {"out", "force", "quiet"}
    assert [a.arg for a in train.args.args] == ["data"]
