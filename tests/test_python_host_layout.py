"""Python bindings: Model.set_layout names a host model's tensors
(polca_model_set_host_layout). The reference is the built-in MLP 2 -> 3
without a hidden layer ("layers.0.W" [2,3], "layers.0.b" [3]): a host
model given that layout in another order is refused the MLP's series with
a message naming the first tensor that differs; given the MLP's order,
its series has the MLP's layout hash; safetensors files are read by the
names, whatever the order. Runs with Debian's python3 (numpy only)."""
from pyharness import test, run, expect_error, expect_raises, tmpdir, skip_if_sanitized

skip_if_sanitized()
import numpy as np  # noqa: E402
import polca  # noqa: E402

REV = [("layers.0.b", (3,)), ("layers.0.W", (2, 3))]


def host(ctx):
    return polca.Model.host(ctx, 9, 4, loss=lambda th, s: np.zeros(len(s)),
                            grad=lambda th, s: (0.0, np.zeros(9)))


def mlp(ctx):
    return polca.Model.mlp(ctx, 2, 3, hidden=())


@test
def host_layout_is_checked_and_read_by_name():
    ctx = polca.Context(backend="cpu")
    m, h = mlp(ctx), host(ctx)
    h.set_layout(REV)
    assert [(t.name, t.shape, t.offset) for t in h.tensors] == \
        [("layers.0.b", (3,), 0), ("layers.0.W", (2, 3), 3)]
    s = polca.Checkpoints.create(ctx, m)
    theta = m.init(1)
    s.append(0, theta)
    s.append(1, m.init(2))
    basis = polca.Basis.random(ctx, 9, 1, seed=1)
    idx = polca.Data.indices(ctx, 4)
    e = expect_error(polca.ERR_LAYOUT_MISMATCH, polca.Trajectories.create, ctx, h, idx, s, basis)
    assert "tensor 0 is 'layers.0.W' [2,3] in the series, 'layers.0.b' [3] in the model" \
        in str(e) and "another order" in str(e), str(e)
    # a file of the MLP's, read by name into the host's order
    path = tmpdir() + "/mlp.safetensors"
    m.save_safetensors(path, theta)
    assert np.array_equal(h.load_safetensors(path), np.concatenate([theta[6:], theta[:6]]))
    # in the MLP's order: the MLP's layout
    h.set_layout([("layers.0.W", (2, 3)), ("layers.0.b", (3,))])
    assert polca.Checkpoints.create(ctx, h).layout_hash == s.layout_hash
    polca.Trajectories.create(ctx, h, idx, s, basis)


@test
def bad_layouts_are_refused():
    ctx = polca.Context(backend="cpu")
    h = host(ctx)
    expect_error(polca.ERR_INVALID_ARGUMENT, h.set_layout, [("w", (8,))],
                 mentions="8 parameters, the model 9")
    expect_error(polca.ERR_INVALID_ARGUMENT, h.set_layout, [("w", (3,)), ("w", (6,))],
                 mentions="'w' appears twice")
    expect_error(polca.ERR_INVALID_ARGUMENT, h.set_layout, [], mentions="n_tensors")
    e = expect_raises(ValueError, h.set_layout, [("w", (1, 1, 1, 1, 9))])
    assert "'w'" in str(e) and "5 dimensions" in str(e), str(e)
    expect_error(polca.ERR_INVALID_ARGUMENT, mlp(ctx).set_layout, REV, mentions="host-defined")
    assert [t.name for t in h.tensors] == ["theta"]  # unchanged


if __name__ == "__main__":
    run()
