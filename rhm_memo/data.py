"""RHM training and held-out strings as a LightningDataModule: generated once, cached, checked on load."""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate

from rhm_memo.checks import check_bool, check_int, check_seed
from rhm_memo.files import atomic_write
from rhm_memo.rhm import Grammar


class ResumableSampler(DistributedSampler):
    """The training shuffle: each epoch's order depends only on ``seed`` and the epoch, split over ranks like
    ``DistributedSampler``; an epoch resumed from a mid-epoch checkpoint starts after the batches already
    trained, so a resumed run sees exactly the strings the uninterrupted run would have.

    The epoch and the batches done come from ``position`` (the data module reads the trainer's public
    ``current_epoch``, ``global_step`` and ``accumulate_grad_batches``), not from ``set_epoch``: Lightning calls
    ``set_epoch`` with its count of processed epochs, which after a mid-epoch resume is one ahead.

    Args:
        dataset: The training strings.
        num_replicas: Number of processes.
        rank: This process's global rank.
        seed: Seed of the shuffle (the data module's ``seed_data``).
        batch_size: Strings per batch on this rank.
        position: Called at the start of each epoch with the number of batches per epoch: ``(epoch, batches of
            that epoch already trained)`` (0 batches except after a mid-epoch resume).
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int,
        rank: int,
        seed: int,
        batch_size: int,
        position: Callable[[int], tuple[int, int]] | None = None,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.batch_size = batch_size
        self.position = position

    def __iter__(self) -> Iterator[int]:
        batches_per_epoch = -(-self.num_samples // self.batch_size)
        if self.position is not None:
            epoch, done = self.position(batches_per_epoch)
            super().set_epoch(epoch)
        else:
            done = 0
        skip = min(max(done, 0), batches_per_epoch) * self.batch_size
        return iter(list(super().__iter__())[skip:])


#: Bump when the generation algorithm or the cache layout changes: old cache files are then regenerated.
CACHE_FORMAT = 1


class RHMDataset(Dataset):
    """Token strings with their row index: items and batches are ``{"x": (.., d) int64, "index": int64}``."""

    def __init__(self, strings: torch.Tensor) -> None:
        self.strings = strings

    def __len__(self) -> int:
        return self.strings.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"x": self.strings[i], "index": torch.tensor(i)}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """A whole batch by one indexing operation (the DataLoader's batched fetch path)."""
        index = torch.as_tensor(indices, dtype=torch.int64)
        return {"x": self.strings[index], "index": index}


def collate(batch: Any) -> Any:
    """Pass batches built by ``RHMDataset.__getitems__`` through; collate anything else as usual."""
    return batch if isinstance(batch, dict) else default_collate(batch)


class RHMDataModule(L.LightningDataModule):
    """Strings of a Random Hierarchy Model: P training strings (unique or i.i.d.) and disjoint held-out strings.

    The grammar is built in ``__init__`` (so ``vocab_size``, ``seq_len`` and ``grammar`` can be linked into a
    model by the CLI); the strings are generated once per node in ``prepare_data`` into a cache file keyed by
    the full configuration, and loaded (and verified) in ``setup``.

    Args:
        v: Vocabulary size.
        n: Number of root symbols.
        m: Rules per symbol.
        s: Symbols per rule (branching factor), >= 2.
        L: Depth; strings have ``s**L`` tokens.
        seed_rules: Seed of the random grammar rules (1951 in the paper).
        zipf_exponent: Real ``a >= 0``: rules at ``zipf_levels`` get probabilities ``∝ k**(-a)``; 0 = uniform.
        zipf_levels: Levels with a Zipf law, counted from the top (1 = the root's rules, L = token-emitting).
        rule_probs: Explicit rule probabilities per level, ``{level: [m floats] or [[m floats] per symbol]}``.
        root_prior: Prior over the ``n`` root symbols (uniform if not given).
        train_size: Number P of training strings.
        test_size: Number of held-out strings (distinct, and disjoint from the training set).
        unique: True: the P training strings are distinct (sampled without replacement); False: i.i.d.
        seed_data: Seed of the training and held-out strings (and of the training-loader shuffle).
        batch_size: Global batch size (strings per optimizer step over all processes), split over ranks.
        eval_batch_size: Global batch size of the validation and test loaders (and of ``rhm-memo predict``).
        predict_size: Strings generated by ``rhm-memo predict`` (its loader yields this many row indices).
        num_workers: DataLoader worker processes per rank.
        cache_dir: Folder of the cache files (``~`` expanded); ``None`` keeps the data in memory only.
    """

    def __init__(
        self,
        v: int = 6,
        n: int = 6,
        m: int = 4,
        s: int = 2,
        L: int = 4,
        seed_rules: int = 1951,
        zipf_exponent: float = 0.0,
        zipf_levels: list[int] | None = None,
        rule_probs: dict[int, list[float] | list[list[float]]] | None = None,
        root_prior: list[float] | None = None,
        train_size: int = 20000,
        test_size: int = 1024,
        unique: bool = True,
        seed_data: int = 1,
        batch_size: int = 32,
        eval_batch_size: int = 1024,
        predict_size: int = 10000,
        num_workers: int = 0,
        cache_dir: str | None = "~/.cache/rhm_memo",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        for name, value, low in [
            ("train_size", train_size, 1),
            ("test_size", test_size, 0),
            ("batch_size", batch_size, 1),
            ("eval_batch_size", eval_batch_size, 1),
            ("predict_size", predict_size, 1),
            ("num_workers", num_workers, 0),
        ]:
            check_int(name, value, low)
        check_seed("seed_rules", seed_rules)
        check_seed("seed_data", seed_data)
        check_bool("unique", unique)
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise ValueError(f"cache_dir must be a folder path or None, got {cache_dir!r}")
        self.grammar = Grammar(
            v,
            n,
            m,
            s,
            L,
            seed_rules,
            zipf_exponent=zipf_exponent,
            zipf_levels=tuple(zipf_levels or ()),
            rule_probs={int(k): p for k, p in (rule_probs or {}).items()},
            root_prior=root_prior,
        )
        if batch_size > train_size:
            raise ValueError(
                f"batch_size={batch_size} is larger than the training set (train_size={train_size}): every step "
                "would see every string; use batch_size <= train_size"
            )
        total = self.grammar.num_strings()
        needed = train_size + test_size if unique else test_size + 1
        if needed > total:
            raise ValueError(
                f"train_size + test_size = {train_size + test_size} exceeds the {total} distinct strings "
                f"the grammar can produce (v={v}, n={n}, m={m}, s={s}, L={L})"
                if unique
                else f"test_size = {test_size} leaves no room for training strings among the {total} distinct strings"
            )
        self.train_strings: torch.Tensor | None = None
        self.test_strings: torch.Tensor | None = None
        self.train_log_prob: torch.Tensor | None = None
        self.test_log_prob: torch.Tensor | None = None

    # ------------------------------------------------------------------ what the CLI links into the model
    @property
    def vocab_size(self) -> int:
        """Number of distinct tokens (v)."""
        return self.grammar.v

    @property
    def seq_len(self) -> int:
        """Tokens per string (s**L)."""
        return self.grammar.d

    # ------------------------------------------------------------------ generation and cache
    def config(self) -> dict[str, Any]:
        """Everything that determines the generated strings (the cache key), as plain JSON-able values."""
        hp = dict(self.hparams)
        keys = ["v", "n", "m", "s", "L", "seed_rules", "train_size", "test_size", "unique", "seed_data"]
        cfg = {k: hp[k] for k in keys}
        cfg["rule_probs"] = [p.tolist() for p in self.grammar.rule_probs]
        cfg["root_prior"] = self.grammar.root_prior.tolist()
        cfg["format"] = CACHE_FORMAT
        return cfg

    @property
    def cache_path(self) -> Path | None:
        """The cache file of this configuration (None when caching is off)."""
        if self.hparams.cache_dir is None:
            return None
        digest = hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()[:20]
        return Path(self.hparams.cache_dir).expanduser() / f"rhm-{digest}.pt"

    def generate(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (train, test) strings from ``seed_data``: the same seeds give the same strings everywhere."""
        g = torch.Generator().manual_seed(self.hparams.seed_data)
        if self.hparams.unique:
            train = self.grammar.sample_unique(self.hparams.train_size, g)
        else:
            train = self.grammar.sample(self.hparams.train_size, g)
        test = self.grammar.sample_unique(self.hparams.test_size, g, exclude=train)
        return train, test

    def prepare_data(self) -> None:
        """Generate the strings into the cache file unless a valid one exists (once per node)."""
        path = self.cache_path
        if path is not None and self._load(path) is None:
            self._save(path, *self.generate())

    def setup(self, stage: str | None = None) -> None:
        """Load the strings (from the cache, regenerating if it is missing or invalid) and their log-probs."""
        if self.train_strings is not None:
            return
        path = self.cache_path
        data = self._load(path) if path is not None else None
        if data is None:
            data = self.generate()
            if path is not None:
                self._save(path, *data)
        self.train_strings, self.test_strings = data
        self.train_log_prob = self.grammar.log_prob(self.train_strings)
        self.test_log_prob = self.grammar.log_prob(self.test_strings)

    # ------------------------------------------------------------------ checkpoints
    def fingerprint(self) -> str:
        """SHA-256 of the training and held-out strings (call after ``setup``): what a checkpoint was trained on."""
        if self.train_strings is None:
            raise RuntimeError("call setup() before asking for the data's fingerprint")
        return _checksum(self.train_strings, self.test_strings)

    def state_dict(self) -> dict[str, Any]:
        """Saved in every checkpoint: the fingerprint of the strings the run trains on."""
        return {"fingerprint": self.fingerprint()} if self.train_strings is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """On resume: fail at once if the checkpoint was trained on other strings (e.g. another ``seed_data``)."""
        saved = state_dict.get("fingerprint")
        if saved is not None and self.train_strings is not None and saved != self.fingerprint():
            raise ValueError(
                f"the checkpoint was trained on other strings than this data module's (fingerprint "
                f"{saved[:12]}… vs {self.fingerprint()[:12]}…): resume with the run's own data settings "
                "(seed_data, train_size, grammar)"
            )

    def _save(self, path: Path, train: torch.Tensor, test: torch.Tensor) -> None:
        """Write the cache atomically (temporary file + rename), strings stored as compact integers."""
        path.parent.mkdir(parents=True, exist_ok=True)
        dtype = _storage_dtype(self.grammar.v)
        payload = {
            "config": json.dumps(self.config(), sort_keys=True),
            "train": train.to(dtype),
            "test": test.to(dtype),
            "checksum": _checksum(train, test),
        }
        atomic_write(path, lambda tmp: torch.save(payload, tmp))

    def _load(self, path: Path) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The cached (train, test) strings, or None (with a warning) if the file is missing or invalid."""
        if not path.exists():
            return None
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            if payload["config"] != json.dumps(self.config(), sort_keys=True):
                raise ValueError("its configuration differs from this data module's")
            train, test = payload["train"].long(), payload["test"].long()
            hp = self.hparams
            if train.shape != (hp.train_size, self.seq_len) or test.shape != (hp.test_size, self.seq_len):
                raise ValueError("its arrays have the wrong shapes")
            if payload["checksum"] != _checksum(train, test):
                raise ValueError("its checksum does not match its contents")
        except Exception as err:  # any unreadable or inconsistent file is regenerated, never used
            warnings.warn(f"ignoring invalid data cache {path} ({err}); regenerating", stacklevel=2)
            return None
        return train, test

    # ------------------------------------------------------------------ loaders
    def _per_rank(self, global_batch: int, name: str) -> int:
        """Split a global batch size over the trainer's processes."""
        world = self.trainer.world_size if self.trainer is not None else 1
        if global_batch % world:
            raise ValueError(f"{name}={global_batch} must be divisible by the number of processes ({world})")
        return global_batch // world

    def train_dataloader(self) -> DataLoader:
        """Shuffled training strings with their indices; ``batch_size`` is global, split over ranks.

        The shuffle is a :class:`ResumableSampler` (seeded by ``seed_data`` and the epoch), so a run resumed
        from any checkpoint trains on the same batches as the uninterrupted run.
        """
        batch_size = self._per_rank(self.hparams.batch_size, "batch_size")
        trainer = self.trainer
        world, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        dataset = self._dataset(self.train_strings)

        def position(batches_per_epoch: int) -> tuple[int, int]:  # the epoch and its batches done, from the trainer
            if trainer is None:
                return 0, 0
            epoch = trainer.current_epoch
            return epoch, trainer.global_step * trainer.accumulate_grad_batches - epoch * batches_per_epoch

        sampler = ResumableSampler(dataset, world, rank, self.hparams.seed_data, batch_size, position)
        return self._loader(dataset, batch_size, sampler=sampler)

    def val_dataloader(self) -> DataLoader:
        """Held-out strings with their indices."""
        batch_size = self._per_rank(self.hparams.eval_batch_size, "eval_batch_size")
        return self._loader(self._dataset(self.test_strings), batch_size)

    def test_dataloader(self) -> DataLoader:
        """Held-out strings with their indices (same as validation)."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader:
        """``predict_size`` row indices (no strings) in batches of ``eval_batch_size``: what ``predict_step`` samples.

        Lightning splits them over the ranks (a ``DistributedSampler`` without shuffling).
        """
        batch_size = self._per_rank(self.hparams.eval_batch_size, "eval_batch_size")
        indices = torch.zeros(self.hparams.predict_size, 0, dtype=torch.int64)
        return self._loader(RHMDataset(indices), batch_size)

    @staticmethod
    def _dataset(strings: torch.Tensor | None) -> RHMDataset:
        if strings is None:
            raise RuntimeError("call setup() (or let the Trainer call it) before asking for a dataloader")
        return RHMDataset(strings)

    def _loader(self, dataset: RHMDataset, batch_size: int, sampler: ResumableSampler | None = None) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            collate_fn=collate,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    # ------------------------------------------------------------------ reporting
    def summary(self) -> dict[str, Any]:
        """Sizes, counts, the training set's mass M and log-prob statistics of the loaded data (after ``setup``)."""
        if self.train_strings is None:
            raise RuntimeError("call setup() before summary()")
        distinct = torch.unique(self.train_strings, dim=0)
        lp = self.train_log_prob
        return {
            "grammar": repr(self.grammar),
            "zipf": {"exponent": self.hparams.zipf_exponent, "levels": list(self.hparams.zipf_levels or [])},
            "seq_len": self.seq_len,
            "distinct_strings_of_grammar": self.grammar.num_strings(),
            "train_size": int(self.train_strings.shape[0]),
            "train_distinct": int(distinct.shape[0]),
            # M: the grammar's probability of the distinct training strings, what a perfect generalizer copies
            "train_mass": torch.logsumexp(self.grammar.log_prob(distinct), 0).exp().item(),
            "test_size": int(self.test_strings.shape[0]),
            "train_log_prob": {"mean": lp.mean().item(), "min": lp.min().item(), "max": lp.max().item()},
            "cache": str(self.cache_path) if self.cache_path else None,
        }


def _storage_dtype(v: int) -> torch.dtype:
    """The smallest integer dtype holding tokens 0..v-1."""
    return torch.uint8 if v <= 256 else torch.int16 if v <= 2**15 else torch.int32


def _checksum(*tensors: torch.Tensor) -> str:
    """SHA-256 of the int64 contents of the tensors."""
    digest = hashlib.sha256()
    for t in tensors:
        digest.update(t.long().contiguous().numpy().tobytes())
    return digest.hexdigest()
