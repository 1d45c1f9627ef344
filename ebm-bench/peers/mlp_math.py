"""The MLP energy and ebm's hand-derived E, grad E and Hessian diagonal,
written once for any array library: ``torch_peers.py`` passes PyTorch's
functions, ``run.py`` JAX's. No framework is imported here.

The parameters ``p`` are ``[(W, b), ...]`` per layer; ``softplus`` and
``sigmoid`` are the library's elementwise functions and ``xp`` its array
namespace (``torch`` or ``jax.numpy``: ``broadcast_to`` and ``einsum``).
"""


def energy(p, x, softplus):
    """E(x) of the softplus MLP, one value per row of x."""
    z = x
    for w, b in p[:-1]:
        z = softplus(z @ w.T + b)
    w, b = p[-1]
    return (z @ w.T)[:, 0] + b[0]


def hand(p, x, softplus, sigmoid, xp):
    """Hand-derived E, grad E and Hessian diagonal (ebm's decomposition)."""
    hidden, (wo, bo) = p[:-1], p[-1]
    z, a_s = x, []
    for w, b in hidden:
        a = z @ w.T + b
        a_s.append(a)
        z = softplus(a)
    e = (z @ wo.T)[:, 0] + bo[0]
    sig = [sigmoid(a) for a in a_s]
    gam = [None] * len(hidden)
    g = xp.broadcast_to(wo, (x.shape[0], wo.shape[1]))
    for l in range(len(hidden) - 1, -1, -1):
        gam[l] = g
        g = (g * sig[l]) @ hidden[l][0]
    c = [gam[l] * sig[l] * (1 - sig[l]) for l in range(len(hidden))]
    w1 = hidden[0][0]
    h = c[0] @ (w1 * w1)
    bsz, d = x.shape
    jac = None
    for l in range(1, len(hidden)):
        if jac is None:
            pl = sig[0].T[:, :, None] * w1[:, None, :]  # (H1, B, d)
        else:
            pl = sig[l - 1].T[:, :, None] * jac
        wl = hidden[l][0]
        jac = (wl @ pl.reshape(pl.shape[0], bsz * d)).reshape(wl.shape[0], bsz, d)
        h = h + xp.einsum("ub,ubi->bi", c[l].T, jac * jac)
    return e, g, h
