"""``ebm.Mlp``: MLP energies from PyTorch modules or flat parameters."""

from ._ebm import Model

#: torch activation class name -> ebm activation name (GELU needs
#: approximate='tanh'; Softplus needs beta=1).
_ACTIVATIONS = {"Softplus": "softplus", "Tanh": "tanh", "SiLU": "silu", "GELU": "gelu-tanh"}


def _activation_name(i, layer):
    kind = type(layer).__name__
    name = _ACTIVATIONS.get(kind)
    if name is None:
        raise ValueError(
            f"layer {i} ({kind}) is not supported: ebm's MLP is an nn.Sequential of Linear layers "
            f"with Softplus, Tanh, SiLU or GELU(approximate='tanh') between them"
        )
    if kind == "GELU" and getattr(layer, "approximate", "none") != "tanh":
        raise ValueError(f"layer {i} (GELU) must use approximate='tanh' (ebm's GELU is the tanh approximation)")
    if kind == "Softplus" and float(getattr(layer, "beta", 1.0)) != 1.0:
        raise ValueError(f"layer {i} (Softplus) must have beta=1, got beta={layer.beta}")
    return name


def torch_mlp_layout(module):
    """Check that ``module`` is an ebm MLP and return (dim, hidden,
    activation, parameters), the parameters in ebm's flat layout order
    (per layer: weight (out, in) row-major, then bias), which is the order
    of ``module.parameters()``."""
    import torch

    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"expected a torch.nn.Sequential, got {type(module).__name__}")
    layers = list(module)
    if len(layers) < 3 or len(layers) % 2 == 0:
        raise ValueError(
            f"expected Linear, activation, Linear, ..., Linear (an odd number of layers, at least 3), got {len(layers)} layers"
        )
    acts = set()
    params = []
    for i, layer in enumerate(layers):
        if i % 2 == 1:
            acts.add(_activation_name(i, layer))
            continue
        if type(layer).__name__ != "Linear" or not isinstance(layer, torch.nn.Linear):
            raise ValueError(f"layer {i} ({type(layer).__name__}) is not supported here: expected Linear")
        if layer.bias is None:
            raise ValueError(f"layer {i} (Linear) has no bias: ebm's MLP layers all have one")
        params += [layer.weight, layer.bias]
    if len(acts) != 1:
        raise ValueError(f"ebm's MLP uses one activation throughout, got {sorted(acts)}")
    if layers[-1].out_features != 1:
        raise ValueError(f"the last Linear must have 1 output (the energy), got {layers[-1].out_features}")
    dim = layers[0].in_features
    hidden = [layers[i].out_features for i in range(0, len(layers) - 1, 2)]
    return dim, hidden, acts.pop(), params


def flat_params(params):
    """The parameters concatenated into one float64 NumPy vector."""
    import torch

    with torch.no_grad():
        return torch.cat([p.detach().reshape(-1).to(torch.float64) for p in params]).cpu().numpy()


class Mlp:
    """MLP energies E(x) = w_out^T sigma(a_L) + b_out with a_1 = W_1 x + b_1,
    a_{l+1} = W_{l+1} sigma(a_l) + b_{l+1} (the ebm ``mlp`` family).
    Both constructors return an ``ebm.Model`` whose family is ``mlp``."""

    @staticmethod
    def from_torch(module):
        """The ebm model of an ``nn.Sequential`` of ``Linear`` layers with
        Softplus, Tanh, SiLU or GELU(approximate='tanh') between them,
        ending in a ``Linear`` to one output: E(x) = module(x)[:, 0]. The
        weights are copied (later changes to the module are not seen). Any
        other layer raises ValueError naming it."""
        dim, hidden, act, params = torch_mlp_layout(module)
        return Model.mlp(dim, hidden, act, flat_params(params))

    @staticmethod
    def new(dim, hidden, activation, params):
        """An MLP on R^dim with the given hidden widths, activation
        ("softplus", "tanh", "silu", "gelu-tanh", "relu") and flat
        parameters (per layer W (out, in) row-major, then b)."""
        import numpy as np

        return Model.mlp(int(dim), [int(h) for h in hidden], activation, np.ascontiguousarray(params, dtype=np.float64))
