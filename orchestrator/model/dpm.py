"""Fitting the deep probabilistic model (DPM) and tuning its data-term weight β.

Objective (maximised, per item, averaged over a mini-batch)::

    E_q[log p_γ(ŷ | z, y)] + β · (r / d) · E_q[log p_θ(x | z, y)] − KL(q(z, y | x) ‖ p(z, y))

* ``d`` is the input dimension and ``r = ModelConfig.beta_reference_dim`` (256). The data
  log-likelihood of an image grows linearly with its number of pixels, so the raw β would mean
  a 12× stronger data term on 784-pixel MNIST than on 64-pixel digits; dividing by ``d`` makes
  β a weight **per input dimension**, and the constant ``r`` only shifts the grid so that
  ``β = 1`` is "the full likelihood of a 256-dimensional (16×16) input". ``β = 0`` drops the
  generative part (the model is then a classifier with an instance-dependent noisy-label
  channel).
* Crowd-verified items that are not validation items have ``y`` observed: their term is the
  ELBO at the observed class plus ``supervised_weight · log q(y | x)`` (the semi-supervised term
  of Kingma et al.'s M2). Validation items are trained like any unverified item (their noisy
  label and features are used, their verified label is not) and serve only for early stopping
  and the β search.
* The posterior reported per item is ``p(y | x, ŷ) ∝ q(y | x) · E_{q(z|x,y)} p(ŷ | z, y)``: the
  classifier's belief re-weighted by how well each candidate class explains the delivered noisy
  label. The latent vector is ``Σ_y p(y | x, ŷ) · E_q[z | x, y]``.

Robust update (``ModelConfig.robust_update``, Kim, "Active label correction using robust
parameter update and entropy propagation", ECCV 2022): after ``robust_warmup`` epochs every
unverified item's ``log p(ŷ | z, y)`` term is multiplied by :func:`robust_weights`, recomputed
from the classifier before each epoch, so a delivered label the model clearly contradicts
stops pulling ``q(y | x)`` toward itself; its features still train the generative part.

Validation score: accuracy of the posterior's argmax against the verified labels of the
validation items (the mean negative log posterior of those labels is reported beside it).
Early stopping: an epoch whose validation accuracy is **at least** the best so far becomes the
new best, so at equal accuracy the later, more-trained state wins; training stops after
``patience`` epochs in a row *below* the best accuracy and restores the best state. Why not
break ties by the NLL: on a validation round of 17-20 items the accuracy is flat for dozens of
epochs while the data term slowly overrules wrong labels, and the NLL tie-break stopped those
fits early (digits, random 20 % noise, a final refit with 26 crowd labels: 0.867 label
accuracy against 0.959 for the previous round's model with the same validation accuracy;
the crowd-free fit, which runs all epochs, 0.969).
With no validation items the fit runs all epochs and keeps the last state.

Crowd-free β search (``ModelConfig.beta = None``, no validation items, the first round of
every campaign and ``crowdclean clean``): ``heldout_share`` (20 %) of the delivered labels,
stratified by class, are held out; every grid value is trained on the rest (the held-out items
keep their features, their noisy-label term is dropped) for at most ``search_epochs`` epochs,
early-stopped on, and scored by, the mean held-out ``log p(ŷ | x)`` through the candidate's own
noise channel. The evidence grows with the data (286 held-out items on the 1,438-item digits
pool), not with the budget. Under class-conditional noise a noisy held-out set ranks models as
a clean one would (Chen et al., AAAI 2021); under feature-dependent (structural) noise it
favours models that reproduce the noise, so there the crowd's evidence decides what is
relabelled (:mod:`orchestrator.campaigns.evidence`). The fallback stays unless the best
candidate beats it by ``beta_switch_se`` (2) standard errors of the paired per-item difference.
Measured regret against the best β in hindsight: ``benchmarks/results/beta_regret.md``.

β search on validation items (the operator gave gold validation items, or a campaign keeps a
random validation round): every grid value is trained from the same seeded
initialisation for at most ``search_epochs`` epochs with early stopping. The search starts from
``fallback_beta`` (when it is in the grid) and moves to another value only if that value gets
at least ``ModelConfig.beta_switch_items`` (2) more validation items right than the incumbent:
at equal accuracy the incumbent stays, the NLL does not decide, and one item is not evidence.
Why: on a validation round of 14-20 items the candidates often tie (all agree with the ~80 % of
items whose noisy label is right), and the NLL then favours the smallest β, the one that fits
the noisy labels most confidently; under structural noise that β never relabels anything
(digits, 2.8 % budget: β = 1e-4 chosen in 2 of 3 seeds, 0.803 label accuracy against 0.85 for
the crowd-free fit at the fallback). A one-item lead was as misleading: β = 1 won 11 of 14
against 10 of 14 on MiniLM movie snippets and its fit relabelled 26 % of the items, accuracy
0.80 → 0.72 (benchmarks/results/bench-notes.md). The winner's network is then
**warm-started**: training
continues for up to ``epochs`` more epochs. The search therefore costs about
``len(grid) · search_epochs`` epochs. It is meant for the first round; the scheduler passes the
returned ``beta`` back in later rounds to skip it.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from orchestrator.data.dataset import FeatureKind, LabeledData
from orchestrator.model.base import LabelModelOutput
from orchestrator.model.config import ModelConfig
from orchestrator.model.networks import DPMNetwork

__all__ = ["fit_label_model", "resolve_device"]

_EVAL_BATCH = 1024


def resolve_device(device: str) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class _Tensors:
    x_in: torch.Tensor  # (n, d) encoder input
    x: torch.Tensor  # (n, d) features in the likelihood's space
    noisy: torch.Tensor  # (n,) int64
    train_observed: torch.Tensor  # (n,) int64, -1 for unverified and validation items
    val_idx: torch.Tensor  # (v,) int64
    val_labels: torch.Tensor  # (v,) int64
    # The crowd-free β search holds some noisy labels out (see heldout_rows); None: none held out.
    label_seen: torch.Tensor | None = None  # (n,) bool
    heldout_idx: torch.Tensor | None = None  # (h,) int64


def _prepare(
    data: LabeledData,
    observed: npt.NDArray[np.int64],
    validation: npt.NDArray[np.bool_],
    device: torch.device,
) -> _Tensors:
    feats = np.asarray(data.features, dtype=np.float32)
    if data.feature_kind == FeatureKind.PIXELS:
        x = np.clip(feats, 0.0, 1.0)
        x_in = x
    elif data.feature_kind == FeatureKind.COUNTS:
        x = np.maximum(feats, 0.0)
        lg = np.log1p(x)
        x_in = (lg - lg.mean(0)) / (lg.std(0) + 1e-6)
    else:
        # Standardised features: the Gaussian likelihood then works in unit-variance space.
        x = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
        x_in = x
    train_obs = np.where(validation, -1, observed).astype(np.int64)
    val_idx = np.flatnonzero(validation)

    def t(a: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)

    return _Tensors(
        x_in=t(x_in, torch.float32),
        x=t(x, torch.float32),
        noisy=t(data.noisy_labels, torch.int64),
        train_observed=t(train_obs, torch.int64),
        val_idx=t(val_idx, torch.int64),
        val_labels=t(observed[val_idx], torch.int64),
    )


def _beliefs(
    net: DPMNetwork,
    tensors: _Tensors,
    rows: torch.Tensor | None,
    samples: int,
    seed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    net.eval()
    device = tensors.x_in.device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    n = tensors.x_in.shape[0] if rows is None else rows.shape[0]
    posts, lats = [], []
    for start in range(0, n, _EVAL_BATCH):
        sl = slice(start, start + _EVAL_BATCH)
        if rows is None:
            x_in, noisy = tensors.x_in[sl], tensors.noisy[sl]
        else:
            r = rows[sl]
            x_in, noisy = tensors.x_in[r], tensors.noisy[r]
        p, z = net.beliefs(x_in, noisy, samples=samples, generator=gen)
        posts.append(p)
        lats.append(z)
    net.train()
    if not posts:
        k = net.n_classes
        return torch.zeros((0, k), dtype=torch.float64), torch.zeros((0, net.latent_dim))
    return torch.cat(posts), torch.cat(lats)


def heldout_log_likelihood(
    net: DPMNetwork, tensors: _Tensors, samples: int, seed: int
) -> npt.NDArray[np.float64]:
    """(h,) ``log p(ŷ | x)`` in nats of each held-out item's delivered label (see ``_Tensors``)."""
    assert tensors.heldout_idx is not None
    net.eval()
    gen = torch.Generator(device=tensors.x_in.device)
    gen.manual_seed(seed)
    rows = tensors.heldout_idx
    parts = [
        net.noisy_label_log_likelihood(
            tensors.x_in[rows[a : a + _EVAL_BATCH]],
            tensors.noisy[rows[a : a + _EVAL_BATCH]],
            samples=samples,
            generator=gen,
        )
        for a in range(0, rows.shape[0], _EVAL_BATCH)
    ]
    net.train()
    return torch.cat(parts).cpu().numpy() if parts else np.zeros(0)


def _val_score(net: DPMNetwork, tensors: _Tensors, samples: int, seed: int) -> tuple[float, float]:
    """Larger is better: (accuracy, -mean NLL) of the posterior on validation items, or with
    none but held-out noisy labels, (mean held-out ``log p(ŷ | x)``, same)."""
    if tensors.val_idx.numel() == 0:
        if tensors.heldout_idx is not None:
            ll = float(heldout_log_likelihood(net, tensors, samples, seed).mean())
            return ll, ll
        return 0.0, 0.0
    post, _ = _beliefs(net, tensors, tensors.val_idx, samples, seed)
    labels = tensors.val_labels.to(post.device)
    acc = float((post.argmax(1) == labels).double().mean())
    nll = float(-torch.log(post.gather(1, labels[:, None]).clamp_min(1e-12)).mean())
    return acc, -nll


def choose_beta(
    order: list[float],
    scores: dict[float, tuple[float, float]],
    n_val: int,
    *,
    switch_items: int,
) -> float:
    """The β search's winner: walk ``order``; a value replaces the incumbent only if it gets
    at least ``switch_items`` more of the ``n_val`` validation items right.

    ``scores``: β → (validation accuracy, −NLL) as :func:`_val_score` returns (the NLL is not
    used). The first value of ``order`` is the first incumbent.
    """
    best = order[0]
    for beta in order[1:]:
        right = round(scores[beta][0] * n_val)
        if right >= round(scores[best][0] * n_val) + max(1, switch_items):
            best = beta
    return best


def heldout_rows(noisy: npt.NDArray[np.int64], share: float, seed: int) -> npt.NDArray[np.int64]:
    """Sorted rows whose noisy label the crowd-free β search holds out: ``round(share · n_k)``
    random rows of each delivered class ``k`` (at least one where the class has two or more), so
    the held-out labels keep the delivered class mix."""
    rng = np.random.default_rng([seed, 7717])
    picked: list[npt.NDArray[np.int64]] = []
    for k in np.unique(noisy):
        rows = np.flatnonzero(noisy == k)
        take = min(len(rows) - 1, max(1, round(share * len(rows))))
        if take > 0:
            picked.append(rng.choice(rows, size=take, replace=False))
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class BetaChoice:
    """The crowd-free β search's decision and its evidence.

    Attributes:
        beta: the chosen value.
        table: β → {"heldout_loglik": mean log p(ŷ | x) over the held-out items (nats),
            "diff": mean per-item difference to the incumbent, "se": its standard error}.
        n_heldout: held-out items the criterion rests on.
    """

    beta: float
    table: dict[float, dict[str, float]]
    n_heldout: int


def choose_beta_heldout(
    order: list[float], per_item: dict[float, npt.NDArray[np.float64]], *, switch_se: float
) -> BetaChoice:
    """Pick β by the held-out noisy-label log-likelihood, leaving the incumbent (``order[0]``)
    only for the best candidate, and only if its paired per-item gain over the incumbent exceeds
    ``switch_se`` standard errors. ``per_item``: β → (h,) held-out ``log p(ŷ | x)`` (nats).

    Why paired: every candidate is scored on the same held-out items, so the item-to-item
    spread (most of the variance) cancels in the difference.
    """
    incumbent = order[0]
    base = per_item[incumbent]
    h = len(base)
    table: dict[float, dict[str, float]] = {}
    for beta in order:
        diff = per_item[beta] - base
        se = float(diff.std(ddof=1) / math.sqrt(h)) if h > 1 else float("inf")
        table[beta] = {
            "heldout_loglik": float(per_item[beta].mean()),
            "diff": float(diff.mean()),
            "se": se,
        }
    best = max(order, key=lambda b: (table[b]["heldout_loglik"], -order.index(b)))
    gain = table[best]
    chosen = best if best != incumbent and gain["diff"] > switch_se * gain["se"] else incumbent
    return BetaChoice(beta=chosen, table=table, n_heldout=h)


def _not_worse(score: tuple[float, float], best: tuple[float, float]) -> bool:
    """Early stopping's test: validation accuracy at least the best so far (NLL ignored)."""
    return score[0] >= best[0]


@dataclass
class _FitResult:
    net: DPMNetwork
    score: tuple[float, float]
    epochs: int
    history: list[tuple[float, float]]
    epoch_seconds: list[float]  # wall time of each epoch's mini-batch updates (no validation)
    label_weights: torch.Tensor | None = None  # (n,) robust weights in force at the end


def robust_weights(
    class_probs: torch.Tensor, noisy: torch.Tensor, observed: torch.Tensor, *, floor: float
) -> torch.Tensor:
    """Kim's robust update's per-item weights of the delivered label's term.

    Args:
        class_probs: (n, K) classifier probabilities q(y | x) (they do not see ŷ).
        noisy: (n,) int64 delivered labels; observed: (n,) crowd class, -1 where none.
        floor: smallest weight.

    Returns:
        (n,) float32 ``max(floor, q(ŷ | x) / max_k q(k | x))``, 1 on crowd-verified items
        (their delivered label teaches the noise channel what a wrong label looks like).
        The ratio, not q(ŷ | x) itself: with K = 10 classes an item the classifier finds
        ambiguous between its label and one other class keeps about half its weight, not a
        tenth, so only labels the model clearly contradicts are shrunk.
    """
    p_noisy = class_probs.gather(1, noisy[:, None]).squeeze(1)
    ratio = p_noisy / class_probs.max(1).values.clamp_min(1e-12)
    w = ratio.clamp(min=floor, max=1.0)
    return torch.where(observed >= 0, torch.ones_like(w), w).float()


@torch.no_grad()
def _class_probs(net: DPMNetwork, x_in: torch.Tensor) -> torch.Tensor:
    """(n, K) q(y | x) of the classifier head, in evaluation batches."""
    net.eval()
    parts = [
        torch.softmax(net.classifier(x_in[a : a + _EVAL_BATCH]), dim=-1)
        for a in range(0, x_in.shape[0], _EVAL_BATCH)
    ]
    net.train()
    return torch.cat(parts) if parts else torch.zeros((0, net.n_classes), device=x_in.device)


def _train(
    net: DPMNetwork,
    tensors: _Tensors,
    config: ModelConfig,
    *,
    beta: float,
    max_epochs: int,
    seed: int,
) -> _FitResult:
    """Adam on mini-batches with early stopping on the validation score; keeps the best state."""
    device = tensors.x_in.device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    shuffle_gen = torch.Generator()
    shuffle_gen.manual_seed(seed + 1)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n, d = tensors.x_in.shape
    data_weight = beta * config.beta_reference_dim / d
    has_val = tensors.val_idx.numel() > 0 or tensors.heldout_idx is not None
    best_score: tuple[float, float] = (-float("inf"), -float("inf"))
    best_state = copy.deepcopy(net.state_dict())
    best_epoch = 0
    history: list[tuple[float, float]] = []
    since_best = 0
    epoch = 0
    epoch_seconds: list[float] = []
    seen = None if tensors.label_seen is None else tensors.label_seen.float()
    weights: torch.Tensor | None = seen
    robust: torch.Tensor | None = None
    for epoch in range(1, max_epochs + 1):
        if config.robust_update and epoch > config.robust_warmup:
            robust = robust_weights(
                _class_probs(net, tensors.x_in),
                tensors.noisy,
                tensors.train_observed,
                floor=config.robust_floor,
            )
            weights = robust if seen is None else robust * seen
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=shuffle_gen).to(device)
        for start in range(0, n, config.batch_size):
            b = perm[start : start + config.batch_size]
            objective, penalty = net.elbo_terms(
                tensors.x_in[b],
                tensors.x[b],
                tensors.noisy[b],
                tensors.train_observed[b],
                data_weight=data_weight,
                supervised_weight=config.supervised_weight,
                generator=gen,
                label_seen=None if weights is None else weights[b],
            )
            loss = -objective.mean() + config.noise_penalty * penalty
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # kernels are asynchronous: time finished work
        epoch_seconds.append(time.perf_counter() - t_epoch)
        if not has_val:
            continue
        score = _val_score(net, tensors, config.posterior_samples, seed)
        history.append(score)
        if _not_worse(score, best_score):
            best_score, best_epoch, since_best = score, epoch, 0
            best_state = copy.deepcopy(net.state_dict())
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    if has_val:
        net.load_state_dict(best_state)
    else:
        best_epoch = epoch
    return _FitResult(
        net=net,
        score=best_score,
        epochs=best_epoch,
        history=history,
        epoch_seconds=epoch_seconds,
        label_weights=robust,
    )


def search_order(grid: tuple[float, ...], fallback: float) -> list[float]:
    """The β search's order: ``fallback`` first when it is in ``grid``, then the grid's order.

    The first value is the incumbent that a later one must beat on validation accuracy.
    """
    rest = [float(b) for b in grid if not math.isclose(b, fallback)]
    return [float(fallback), *rest] if len(rest) < len(grid) else rest


def _new_network(data: LabeledData, config: ModelConfig, seed: int) -> DPMNetwork:
    torch.manual_seed(seed)
    return DPMNetwork(
        d=data.features.shape[1],
        n_classes=data.n_classes,
        feature_kind=data.feature_kind,
        latent_dim=config.latent_dim,
        hidden=config.hidden,
        noise_prior=config.noise_prior,
    )


def _check_inputs(
    data: LabeledData, observed: npt.NDArray[np.int64], validation: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    n = data.n_items
    observed = np.asarray(observed, dtype=np.int64)
    validation = np.asarray(validation, dtype=bool)
    if observed.shape != (n,) or validation.shape != (n,):
        raise ValueError(f"observed and validation must be ({n},)")
    if observed.min(initial=-1) < -1 or observed.max(initial=-1) >= data.n_classes:
        raise ValueError(f"observed must be -1 or a class index in [0, {data.n_classes})")
    if (validation & (observed < 0)).any():
        raise ValueError("every validation item must have an observed (verified) label")
    return observed, validation


def latent_vectors(
    z_mean: npt.NDArray[np.float64],
    posterior: npt.NDArray[np.float64],
    class_weight: float,
) -> npt.NDArray[np.float32]:
    """The latent vectors handed to the sampler and the propagator.

    Args:
        z_mean: (n, d_z) posterior mean of z.
        posterior: (n, K) p(y | x, ŷ).
        class_weight: 0 returns ``z_mean`` unchanged. Otherwise ``z_mean`` is divided by the
            root mean per-dimension variance (so a typical pair of items is about
            ``sqrt(2 d_z)`` apart) and ``class_weight · sqrt(d_z) · posterior`` is appended: two
            items confidently in different classes are then ``class_weight · sqrt(2 d_z)``
            apart on top of their z distance. Why: the M2-style encoder q(z|x,y) lets z carry
            style rather than class, so z-neighbours alone often belong to other classes.

    Returns:
        (n, d_z) or (n, d_z + K) float32.
    """
    if class_weight <= 0:
        return z_mean.astype(np.float32)
    d_z = z_mean.shape[1]
    scale = float(np.sqrt(z_mean.var(axis=0).mean())) if len(z_mean) > 1 else 1.0
    z = (z_mean - z_mean.mean(0)) / max(scale, 1e-8)
    return np.hstack([z, class_weight * np.sqrt(d_z) * posterior]).astype(np.float32)


def fit_label_model(
    data: LabeledData,
    *,
    observed: npt.NDArray[np.int64],
    validation: npt.NDArray[np.bool_],
    config: ModelConfig | None = None,
    seed: int = 0,
) -> LabelModelOutput:
    """Fit the DPM and return per-item beliefs.

    Args:
        data: the dataset; only ``features``, ``feature_kind``, ``noisy_labels`` and
            ``classes`` are read (never ``gold``).
        observed: (n,) int64 crowd-verified class per item, -1 where not verified.
        validation: (n,) bool, verified items held out for early stopping and the β search;
            a subset of ``observed != -1``.
        config: hyper-parameters (defaults: :class:`ModelConfig`).
        seed: seeds the initialisation, the shuffling and every Monte-Carlo draw.

    Returns:
        ``LabelModelOutput`` with posterior (n, K) float64, latent (n, d_z) float32, the β used,
        and ``info`` = {"beta_scores": {β: (val_acc, -val_nll)}, "val_accuracy", "epochs",
        "seconds", "epoch_seconds" (final fit, per epoch, training only), "device",
        "data_weight"}.
    """
    config = config or ModelConfig()
    observed, validation = _check_inputs(data, observed, validation)
    device = resolve_device(config.device)
    old_threads = torch.get_num_threads()
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    t0 = time.perf_counter()
    try:
        tensors = _prepare(data, observed, validation, device)
        beta_scores: dict[float, tuple[float, float]] = {}
        search_epochs = 0
        heldout_choice: BetaChoice | None = None
        fits: dict[float, _FitResult] = {}
        searching = config.beta is None and len(config.beta_grid) > 1
        held = (
            heldout_rows(data.noisy_labels, config.heldout_share, seed)
            if searching and not validation.any() and config.heldout_share > 0
            else np.zeros(0, dtype=np.int64)
        )
        if len(held) >= 2:
            # No crowd labels yet: score each β by how well it predicts delivered labels it
            # was not trained on, through its own noise channel (see the module docstring).
            order = search_order(config.beta_grid, config.fallback_beta)
            seen = np.ones(data.n_items, dtype=np.bool_)
            seen[held] = False
            search_tensors = dataclasses.replace(
                tensors,
                label_seen=torch.as_tensor(seen, device=device),
                heldout_idx=torch.as_tensor(held, dtype=torch.int64, device=device),
            )
            per_item: dict[float, npt.NDArray[np.float64]] = {}
            for beta in order:
                net = _new_network(data, config, seed).to(device)
                fits[beta] = _train(
                    net,
                    search_tensors,
                    config,
                    beta=beta,
                    max_epochs=config.search_epochs,
                    seed=seed,
                )
                per_item[beta] = heldout_log_likelihood(
                    net, search_tensors, config.posterior_samples, seed
                )
                beta_scores[float(beta)] = fits[beta].score
                search_epochs += len(fits[beta].history)
            heldout_choice = choose_beta_heldout(order, per_item, switch_se=config.beta_switch_se)
            beta = heldout_choice.beta
            net = fits[beta].net
        elif searching and validation.any():
            order = search_order(config.beta_grid, config.fallback_beta)
            fits = {}
            for beta in order:
                net = _new_network(data, config, seed).to(device)
                fits[beta] = _train(
                    net, tensors, config, beta=beta, max_epochs=config.search_epochs, seed=seed
                )
                beta_scores[float(beta)] = fits[beta].score
                search_epochs += len(fits[beta].history)
            beta = choose_beta(
                order, beta_scores, int(validation.sum()), switch_items=config.beta_switch_items
            )
            net = fits[beta].net
        else:
            beta = float(config.beta if config.beta is not None else config.fallback_beta)
            net = _new_network(data, config, seed).to(device)
        res = _train(net, tensors, config, beta=beta, max_epochs=config.epochs, seed=seed + 7)
        post, latent = _beliefs(net, tensors, None, config.posterior_samples, seed)
        val_acc, val_nll = _val_score(net, tensors, config.posterior_samples, seed)
    finally:
        if config.torch_threads is not None:
            torch.set_num_threads(old_threads)
    posterior = post.cpu().numpy().astype(np.float64)
    posterior /= posterior.sum(1, keepdims=True)
    return LabelModelOutput(
        posterior=posterior,
        latent=latent_vectors(
            latent.cpu().numpy().astype(np.float64), posterior, config.latent_class_weight
        ),
        beta=beta,
        info={
            "beta_scores": beta_scores,
            "beta_criterion": (
                "heldout_noisy_label_loglik"
                if heldout_choice is not None
                else "validation_accuracy"
                if beta_scores
                else "fixed"
            ),
            "beta_heldout": (
                None
                if heldout_choice is None
                else {
                    "n_heldout": heldout_choice.n_heldout,
                    "table": {f"{b:g}": v for b, v in heldout_choice.table.items()},
                }
            ),
            "val_accuracy": val_acc if validation.any() else None,
            "val_nll": -val_nll if validation.any() else None,
            "epochs": res.epochs,
            "epochs_run": max(len(res.history), res.epochs),
            "search_epochs": search_epochs,
            "seconds": time.perf_counter() - t0,
            "epoch_seconds": res.epoch_seconds,
            "device": str(device),
            "data_weight": beta * config.beta_reference_dim / data.features.shape[1],
            **(
                {}
                if res.label_weights is None
                else {
                    "robust_mean_weight": float(res.label_weights.mean()),
                    "robust_share_shrunk": float((res.label_weights < 0.5).float().mean()),
                }
            ),
        },
        label_weights=(
            None
            if res.label_weights is None
            else res.label_weights.cpu().numpy().astype(np.float64)
        ),
    )
