"""DiffusionModule built in Python: training step, sampling, validation, optimizers, backbones, checkpoints."""

import ast
from functools import partial
from pathlib import Path

import lightning as L
import pytest
import torch

from rhm_memo.data import RHMDataModule
from rhm_memo.diffusion import MaskedDiffusion, UniformDiffusion
from rhm_memo.models import Backbone, BackboneInputs, DiffusionTransformer, HierarchicalUNet
from rhm_memo.module import DiffusionModule

V, D, S = 4, 4, 2  # vocabulary, sequence length and branching factor of the tiny grammar below (L = 2)
PROCESSES = {
    "uniform": partial(UniformDiffusion, num_steps=10),
    "masked": partial(MaskedDiffusion, num_steps=10),
}
NETS = {
    "transformer": partial(DiffusionTransformer, width=16, depth=1, heads=2),
    "unet": partial(HierarchicalUNet, width=16),
}
COMBOS = [(p, n) for p in PROCESSES for n in NETS]
NO_TRAINER_LOG = "ignore:You are trying to `self.log\\(\\)`"
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec")


def make(process: str = "uniform", net: str = "transformer", seed: int = 0, **kwargs) -> DiffusionModule:
    """A tiny module with a seeded initialization."""
    torch.manual_seed(seed)
    return DiffusionModule(V, D, s=S, process=PROCESSES[process], net=NETS[net], **kwargs)


def batch(size: int = 8, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch of random strings in the module's format."""
    x = torch.randint(0, V, (size, D), generator=torch.Generator().manual_seed(seed))
    return {"x": x, "index": torch.arange(size)}


def trainer() -> L.Trainer:
    """A quiet CPU trainer for validate/test."""
    return L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


@pytest.fixture(scope="module")
def datamodule() -> RHMDataModule:
    """Eight training and eight held-out strings of a tiny grammar (v = 4, d = 4), kept in memory."""
    dm = RHMDataModule(v=V, n=2, m=2, s=S, L=2, train_size=8, test_size=8, batch_size=8, eval_batch_size=8,
                       cache_dir=None)  # fmt: skip
    dm.setup()
    return dm


# ---------------------------------------------------------------------- training step
@pytest.mark.filterwarnings(NO_TRAINER_LOG)
@pytest.mark.parametrize(("process", "net"), COMBOS)
def test_training_step_returns_finite_scalar_loss_with_grad(process, net):
    """training_step gives a finite scalar loss whose backward reaches the backbone's parameters."""
    model = make(process, net)
    loss = model.training_step(batch(), 0)
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    grads = [p.grad for p in model.net.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    assert all(torch.isfinite(g).all() for g in grads)


@pytest.mark.filterwarnings(NO_TRAINER_LOG)
def test_training_noise_follows_noise_seed_and_advances():
    """Same noise_seed → same losses; another noise_seed → other losses; each step draws fresh noise."""
    a, b, c = make(noise_seed=3), make(noise_seed=3), make(noise_seed=4)
    x = batch(16)
    with torch.no_grad():
        la = [a.training_step(x, i).item() for i in range(2)]
        lb = [b.training_step(x, i).item() for i in range(2)]
        lc = c.training_step(x, 0).item()
    assert la == lb
    assert la[0] != lc
    assert la[0] != la[1]


@pytest.mark.filterwarnings(NO_TRAINER_LOG)
def test_noise_generator_state_survives_checkpoint():
    """on_save/on_load_checkpoint carry the noise generator: a restored module draws the next noise, not the first."""
    a = make(noise_seed=5)
    x = batch(16)
    with torch.no_grad():
        first = a.training_step(x, 0).item()
        checkpoint: dict = {}
        a.on_save_checkpoint(checkpoint)
        assert "noise_generator_state" in checkpoint
        second = a.training_step(x, 1).item()
        b = make(noise_seed=5)
        b.on_load_checkpoint(checkpoint)
        resumed = b.training_step(x, 1).item()
    assert resumed == second != first


@pytest.mark.parametrize(("process", "net"), COMBOS)
def test_adam_steps_reduce_loss_at_fixed_noise(process, net):
    """A few optimizer steps (from configure_optimizers) lower the loss of a fixed batch at fixed t and noise."""
    model = make(process, net, optimizer=partial(torch.optim.Adam, lr=1e-2))
    x = batch(8)["x"]
    t = model.process.sample_time(8, torch.Generator().manual_seed(1))

    def fixed_loss() -> torch.Tensor:
        return model.process.loss_at(model.net, x, t, torch.Generator().manual_seed(2))["loss"]

    optimizer = model.configure_optimizers()
    before = fixed_loss().item()
    for _ in range(5):
        optimizer.zero_grad()
        fixed_loss().backward()
        optimizer.step()
    after = fixed_loss().item()
    assert after < before


def test_configure_optimizers_default_and_with_scheduler():
    """Default optimizer is Adam(lr=1e-3); a scheduler factory is returned stepped every optimizer step."""
    optimizer = make().configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 1e-3
    model = make(optimizer=partial(torch.optim.SGD, lr=0.1), lr_scheduler=partial(torch.optim.lr_scheduler.StepLR,
                                                                                   step_size=1))  # fmt: skip
    config = model.configure_optimizers()
    assert isinstance(config["optimizer"], torch.optim.SGD)
    assert isinstance(config["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.StepLR)
    assert config["lr_scheduler"]["interval"] == "step"


# ---------------------------------------------------------------------- sampling
@pytest.mark.parametrize(("process", "net"), COMBOS)
def test_sample_shape_range_and_determinism(process, net):
    """sample(n, seed) is (n, d) int64 in 0..v-1, equal for equal seeds and for a Generator of that seed."""
    model = make(process, net)
    s = model.sample(16, generator=3)
    assert s.shape == (16, D) and s.dtype == torch.int64
    assert int(s.min()) >= 0 and int(s.max()) <= V - 1
    assert torch.equal(s, model.sample(16, generator=3))
    assert torch.equal(s, model.sample(16, generator=torch.Generator().manual_seed(3)))
    assert not torch.equal(s, model.sample(16, generator=4))


@pytest.mark.parametrize("train", [True, False])
def test_sample_runs_in_eval_mode_and_restores_mode(train):
    """The backbone is in eval mode while sampling and gets its previous mode back afterwards."""
    model = make()
    model.train(train)
    modes: list[bool] = []
    model.net.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    model.sample(4, generator=0)
    assert modes and not any(modes)
    assert model.net.training is train


def test_sample_in_chunks_and_zero():
    """batch_size splits sampling into chunks of at most batch_size rows; num = 0 gives an empty (0, d) tensor."""
    model = make()
    sizes: list[int] = []
    model.net.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    out = model.sample(5, generator=0, batch_size=2)
    assert out.shape == (5, D)
    assert sorted(set(sizes)) == [1, 2] and len(sizes) == 3 * model.process.num_steps
    empty = model.sample(0, generator=0)
    assert empty.shape == (0, D) and empty.dtype == torch.int64


# ---------------------------------------------------------------------- validation and test
@pytest.mark.parametrize(("process", "net"), COMBOS)
def test_validation_logs_loss_and_windows(process, net, datamodule):
    """validate logs val/loss and val/loss_window_0..9; val/loss is their mean and repeats exactly."""
    model = make(process, net)
    tr = trainer()
    tr.validate(model, datamodule=datamodule, verbose=False)
    metrics = {k: v.item() for k, v in tr.callback_metrics.items()}
    assert set(metrics) == {"val/loss"} | {f"val/loss_window_{w}" for w in range(10)}
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    windows = torch.tensor([metrics[f"val/loss_window_{w}"] for w in range(10)])
    assert metrics["val/loss"] == pytest.approx(windows.mean().item(), rel=1e-5)
    tr.validate(model, datamodule=datamodule, verbose=False)
    assert {k: v.item() for k, v in tr.callback_metrics.items()} == metrics


def test_test_stage_and_val_windows(datamodule):
    """trainer.test logs test/loss and one window loss per val_windows."""
    model = make(val_windows=3)
    tr = trainer()
    tr.test(model, datamodule=datamodule, verbose=False)
    assert set(tr.callback_metrics) == {"test/loss", "test/loss_window_0", "test/loss_window_1", "test/loss_window_2"}


# ---------------------------------------------------------------------- backbones
@pytest.mark.parametrize("process", list(PROCESSES))
@pytest.mark.parametrize("factory", [NETS["unet"], HierarchicalUNet], ids=["partial", "class"])
def test_unet_receives_process_cond_schedule_and_s(process, factory):
    """The U-Net (partial or bare class) is built from the process's input_size and cond_schedule() and the given s."""
    model = DiffusionModule(V, D, s=S, process=PROCESSES[process], net=factory)
    schedule = tuple(model.process.cond_schedule().tolist())
    assert model.net.inputs == BackboneInputs(model.process.input_size, V, D, s=S, cond_schedule=schedule)
    assert model.net.s == S and model.net.L == 2
    expected = HierarchicalUNet(BackboneInputs(model.process.input_size, V, D, s=S, cond_schedule=schedule))
    default = HierarchicalUNet(BackboneInputs(model.process.input_size, V, D, s=S))
    assert model.net.cond_mean == pytest.approx(expected.cond_mean)
    assert model.net.cond_std == pytest.approx(expected.cond_std)
    assert model.net.cond_mean != pytest.approx(default.cond_mean)


def test_unet_without_s_is_a_clear_error():
    """Without s the U-Net cannot choose its kernel: ValueError pointing at DiffusionModule(s=...)."""
    with pytest.raises(ValueError, match=r"DiffusionModule\(s=\.\.\.\)"):
        DiffusionModule(V, D, process=PROCESSES["uniform"], net=NETS["unet"])


@pytest.mark.filterwarnings(NO_TRAINER_LOG)
def test_any_backbone_subclass_gets_the_inputs():
    """A user's Backbone subclass (or any callable of BackboneInputs) is called once with the full inputs."""
    seen = []

    class Lookup(Backbone):
        """Logits from a table of (position, token): a minimal backbone."""

        def __init__(self, inputs: BackboneInputs, scale: float = 1.0) -> None:
            super().__init__(inputs)
            seen.append(inputs)
            self.table = torch.nn.Parameter(scale * torch.randn(inputs.seq_len, inputs.input_size, inputs.vocab_size))

        def forward(self, x_t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
            return self.table[torch.arange(x_t.shape[1]), x_t]

        def flops(self, batch: int) -> int:
            return 0

    model = DiffusionModule(V, D, process=PROCESSES["masked"], net=partial(Lookup, scale=0.1))
    (inputs,) = seen
    assert inputs.input_size == V + 1 and inputs.vocab_size == V and inputs.seq_len == D and inputs.s is None
    assert inputs.cond_schedule == tuple(model.process.cond_schedule().tolist())
    assert torch.isfinite(model.training_step(batch(), 0))


def test_module_source_has_no_factory_introspection():
    """module.py neither inspects signatures nor takes partial objects apart, nor reads others' private attributes."""
    import rhm_memo.module

    nodes = list(ast.walk(ast.parse(Path(rhm_memo.module.__file__).read_text())))
    imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom)}
    assert not imported & {"inspect", "functools", "jsonargparse"}
    names = {node.id for node in nodes if isinstance(node, ast.Name)}
    attributes = [node for node in nodes if isinstance(node, ast.Attribute)]
    assert not (names | {a.attr for a in attributes}) & {"signature", "partial", "keywords", "args", "func"}
    private = [a for a in attributes if a.attr.startswith("_") and not a.attr.endswith("__")]
    assert [ast.unparse(a) for a in private if ast.unparse(a.value) != "self"] == []


def test_compile_builds_and_runs(eager_compile):
    """compile=True compiles the backbone in place (eager Dynamo backend): same outputs and state_dict keys."""
    plain, compiled = make(), make(compile=True)
    assert plain.net._compiled_call_impl is None
    assert compiled.net._compiled_call_impl is not None
    x = batch(8)["x"]
    cond = torch.linspace(0.3, 0.9, 8)
    torch.testing.assert_close(compiled(x, cond), plain(x, cond))
    assert list(compiled.state_dict()) == list(plain.state_dict())
    assert not any("_orig_mod" in k for k in compiled.state_dict())


# ---------------------------------------------------------------------- arguments and checkpoints
@pytest.mark.parametrize(
    ("name", "value"),
    [("vocab_size", 0), ("seq_len", 0), ("n_trajectories", 0), ("val_windows", 0), ("n_trajectories", True),
     ("val_windows", 2.0)],
)  # fmt: skip
def test_bad_arguments_raise(name, value):
    """Non-positive or non-integer sizes, trajectories and windows raise ValueError naming the argument."""
    kwargs = {"vocab_size": V, "seq_len": D, name: value}
    with pytest.raises(ValueError, match=name):
        DiffusionModule(**kwargs, process=PROCESSES["uniform"], net=NETS["transformer"])


@pytest.mark.parametrize("process", list(PROCESSES))
def test_state_dict_holds_net_only(process):
    """The checkpointed state holds the backbone's tensors and none of the process's schedule buffers."""
    model = make(process)
    keys = set(model.state_dict())
    assert keys == {f"net.{k}" for k in model.net.state_dict()}
    assert any(name for name, _ in model.process.named_buffers())  # the process has buffers, all non-persistent
    fresh = make(process, seed=1)
    fresh.load_state_dict(model.state_dict(), strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v)
