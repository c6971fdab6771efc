"""Diagnostic: how often the relabel gate opens, today's estimator against two alternatives.

Why: at 1 % budgets the gate never opened on digits random seed 1 (+363 ± 187 items estimated,
11 answered picks, all where model and delivered label disagree) although the crowd-free
model was 16 points better than the delivered labels. Before changing the estimator, this
measures on simulated pools whether another honest estimator opens more often at the same
false-open rate. Crowd answers are the truth, or wrong 10 % of the time.

Gates compared, each at one-sided 95 %:
* ``ht_t``: today's (:func:`orchestrator.campaigns.evidence.relabel_evidence`), a
  Horvitz–Thompson sum over every answered pick, Student's t bound.
* ``share_cp``: the weighted share of model-right among the drawn disagreement picks whose
  outcome differs (Kish effective size), Clopper–Pearson bound above 1/2.
* ``hajek_t``: the self-normalised (Hájek) mean of the outcome over the drawn disagreement
  picks, with one pseudo win and one pseudo loss, Student's t bound above 0.

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/evidence/gate_power.py >
benchmarks/evidence/gate_power.jsonl``; each line is one (design, pool, crowd error, model
skill) with the true gain and each gate's opening rate over 500 simulated campaigns.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
from scipy.stats import beta as beta_dist
from scipy.stats import t as t_dist

from orchestrator.campaigns.evidence import (
    EVIDENCE_FLOOR,
    RoundEvidence,
    draw_weights,
    relabel_evidence,
)
from orchestrator.sampling.inclusion import inclusion_probabilities, systematic_sample

N, K, RUNS = 600, 4, 500
#: (certain picks a round, drawn picks a round, rounds): 2.8 %-like, 1 %-like, between.
DESIGNS = ((15, 15, 1), (3, 3, 2), (6, 6, 2), (8, 8, 2))
#: Confidence range of the model where it agrees with the delivered label: wide, or sure
#: (then the evidence slice goes almost only to the disagreements, as on digits).
AGREE_CONFIDENCE = ((0.5, 0.95), (0.97, 0.99))


def population(
    skill: float, agree_conf: tuple[float, float], seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Posterior (N, K), delivered labels, truth. The model disagrees with the delivered label
    on 20 % of the items and is right there with probability ``skill``; elsewhere both agree,
    wrong on 10 %."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, K, N)
    other = (truth + rng.integers(1, K, N)) % K
    disagree = rng.random(N) < 0.2
    model_right = rng.random(N) < skill
    agree_wrong = rng.random(N) < 0.1
    noisy = np.where(
        disagree, np.where(model_right, other, truth), np.where(agree_wrong, other, truth)
    )
    pred = np.where(disagree, np.where(model_right, truth, (noisy + 1) % K), noisy)
    pred = np.where(disagree & ~model_right & (pred == truth), (pred + 1) % K, pred)
    post = np.full((N, K), 0.01)
    conf = np.where(disagree, rng.uniform(0.5, 0.95, N), rng.uniform(*agree_conf, N))
    post[np.arange(N), pred] = conf
    post /= post.sum(1, keepdims=True)
    return post, noisy.astype(np.int64), truth.astype(np.int64)


def draw_round(
    post: npt.NDArray[np.float64],
    noisy: npt.NDArray[np.int64],
    truth: npt.NDArray[np.int64],
    rng: np.random.Generator,
    n_certain: int,
    n_drawn: int,
    crowd_error: float,
) -> RoundEvidence:
    """One round as the runner builds it: the least confident items for certain, then an
    evidence slice drawn with :func:`draw_weights` plus the floor."""
    certain = np.argsort(post.max(1))[:n_certain]
    pool = np.setdiff1d(np.arange(N), certain)
    pi = inclusion_probabilities(draw_weights(post[pool], noisy[pool]) + EVIDENCE_FLOOR, n_drawn)
    drawn = systematic_sample(pi, rng)
    rows = np.concatenate([certain, pool[drawn]])
    model = post[rows].argmax(1)
    crowd = truth[rows].copy()
    flip = rng.random(len(rows)) < crowd_error
    crowd[flip] = (crowd[flip] + rng.integers(1, K, int(flip.sum()))) % K
    return RoundEvidence(
        rows,
        np.concatenate([np.ones(n_certain), pi[drawn]]),
        model,
        noisy[rows],
        crowd,
        post[rows, model],
        post[rows, noisy[rows]],
        {},
    )


def _drawn_disagreements(
    rounds: list[RoundEvidence],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Outcome f ∈ {−1, 0, 1} and weight 1/π of the drawn picks where model ≠ delivered."""
    fs, ws = [], []
    for r in rounds:
        ok = r.answered & (r.pi < 1) & (r.model != r.delivered)
        fs.append((r.model[ok] == r.crowd[ok]).astype(float) - (r.delivered[ok] == r.crowd[ok]))
        ws.append(1 / r.pi[ok])
    return np.concatenate(fs), np.concatenate(ws)


def share_cp(rounds: list[RoundEvidence], level: float = 0.95) -> bool:
    f, w = _drawn_disagreements(rounds)
    wins, losses = w[f > 0].sum(), w[f < 0].sum()
    if wins <= 0:
        return False
    n_eff = (wins + losses) ** 2 / float((w[f != 0] ** 2).sum())
    a = wins / (wins + losses) * n_eff
    return float(beta_dist.ppf(1 - level, a, n_eff - a + 1)) > 0.5


def hajek_t(rounds: list[RoundEvidence], level: float = 0.95) -> bool:
    f, w = _drawn_disagreements(rounds)
    if len(f) == 0:
        return False
    f = np.concatenate([f, [1.0, -1.0]])
    w = np.concatenate([w, [w.mean()] * 2])
    mean = float((w * f).sum() / w.sum())
    n = len(f)
    se = float(np.sqrt((w**2 * (f - mean) ** 2).sum() / w.sum() ** 2 * n / (n - 1)))
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    return mean - float(t_dist.ppf(level, max(n_eff - 1, 1))) * se > 0


def main() -> None:
    for n_certain, n_drawn, n_rounds in DESIGNS:
        for agree_conf in AGREE_CONFIDENCE:
            for crowd_error in (0.0, 0.1):
                for skill in (0.4, 0.5, 0.6, 0.7, 0.9):
                    post, noisy, truth = population(skill, agree_conf)
                    gain = int((post.argmax(1) == truth).sum() - (noisy == truth).sum())
                    rng = np.random.default_rng(5)
                    opened = {"ht_t": 0, "share_cp": 0, "hajek_t": 0}
                    for _ in range(RUNS):
                        rounds = [
                            draw_round(post, noisy, truth, rng, n_certain, n_drawn, crowd_error)
                            for _ in range(n_rounds)
                        ]
                        opened["ht_t"] += relabel_evidence(rounds).relabel
                        opened["share_cp"] += share_cp(rounds)
                        opened["hajek_t"] += hajek_t(rounds)
                    row = {
                        "design": [n_certain, n_drawn, n_rounds],
                        "agree_confidence": list(agree_conf),
                        "crowd_error": crowd_error,
                        "skill": skill,
                        "true_gain": gain,
                        **{k: round(v / RUNS, 3) for k, v in opened.items()},
                    }
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
