"""The simulated worker pool: who takes a HIT, and what they answer.

Workers are drawn once from the seeded generator (kind, accuracy, approval rate, locale).
Answers come from an oracle (true label per item key, or a per-item rating distribution) passed
through the worker's behaviour; the label options and the current label are read from the HIT's
form, the same way a human reads them. A pair HIT's form (``first_key`` … ``second_current_label``)
is answered item by item, then posted as the pair template posts it (``wrong`` and a corrected
label per side said wrong).
"""

from __future__ import annotations

import html.parser
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.simulator.config import SimulatorConfig

PERCENT_APPROVED = "000000000000000000L0"
LOCALE = "00000000000000000071"
NUMBER_APPROVED = "00000000000000000040"
_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def random_id(rng: np.random.Generator, length: int, prefix: str = "") -> str:
    """An upper-case alphanumeric id like MTurk's (``length`` chars including ``prefix``)."""
    return prefix + "".join(rng.choice(_ALNUM, size=length - len(prefix)))


@dataclass(frozen=True)
class SimWorker:
    """One simulated worker. ``accuracy`` in [0, 1]; ``approval_rate`` in percent."""

    worker_id: str
    kind: str
    accuracy: float
    approval_rate: int
    locale: str
    garbage_rate: float
    mean_work_s: float


def make_pool(config: SimulatorConfig) -> list[SimWorker]:
    """The seeded worker pool (same config + seed → same workers)."""
    rng = np.random.default_rng([config.seed, 1])
    kinds = sorted(config.workers.kinds)
    shares = np.array([config.workers.kinds[k].share for k in kinds], dtype=float)
    shares /= shares.sum()
    locs = sorted(config.workers.locales)
    lshares = np.array([config.workers.locales[c] for c in locs], dtype=float)
    lshares /= lshares.sum()
    pool: list[SimWorker] = []
    seen: set[str] = set()
    for _ in range(config.workers.n_workers):
        kind = kinds[int(rng.choice(len(kinds), p=shares))]
        kc = config.workers.kinds[kind]
        if kc.accuracy_beta is not None:
            acc = float(rng.beta(*kc.accuracy_beta))
        else:
            acc = float(np.clip(rng.normal(kc.accuracy, kc.accuracy_spread), 0.0, 1.0))
        wid = random_id(rng, 14, "A")
        while wid in seen:
            wid = random_id(rng, 14, "A")
        seen.add(wid)
        pool.append(
            SimWorker(
                worker_id=wid,
                kind=kind,
                accuracy=acc,
                approval_rate=kc.approval_rate,
                locale=locs[int(rng.choice(len(locs), p=lshares))],
                garbage_rate=kc.garbage_rate,
                mean_work_s=kc.mean_work_s,
            )
        )
    return pool


# --------------------------------------------------------------------------- the form


@dataclass
class FormInfo:
    """What a worker learns from the HIT's HTML form."""

    options: list[str] = field(default_factory=list)
    hidden: dict[str, str] = field(default_factory=dict)


#: Selects whose options are the labels: the single-item form's, and each side of a pair's.
_LABEL_SELECTS = ("label", "first_label", "second_label")
#: The pair form's hidden fields that mark it as a pair.
PAIR_SIDES = ("first", "second")


class _FormParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.info = FormInfo()
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select in _LABEL_SELECTS:
            if a.get("value"):
                self.info.options.append(a["value"])
        elif tag == "input":
            typ = a.get("type", "text").lower()
            if typ == "hidden" and a.get("name"):
                self.info.hidden[a["name"]] = a.get("value", "")
            elif typ == "radio" and a.get("name") == "label" and a.get("value"):
                self.info.options.append(a["value"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def html_of_question(question_xml: str) -> str:
    """The HTML inside an HTMLQuestion (or the text itself when it is not HTMLQuestion XML)."""
    try:
        root = ET.fromstring(question_xml)
    except ET.ParseError:
        return question_xml
    for child in root:
        if child.tag.rsplit("}", 1)[-1] == "HTMLContent":
            return child.text or ""
    return ""


def read_form(question_xml: str) -> FormInfo:
    """Label options and hidden fields of a HIT's form."""
    parser = _FormParser()
    parser.feed(html_of_question(question_xml))
    parser.close()
    info = parser.info
    info.options = list(dict.fromkeys(info.options))
    return info


def item_key_of(annotation: str, form: FormInfo) -> str | None:
    """The item a HIT is about: annotation JSON ``"k"``, a plain annotation, or the form."""
    ann = (annotation or "").strip()
    if ann:
        try:
            data: Any = json.loads(ann)
        except ValueError:
            return ann
        if isinstance(data, dict) and isinstance(data.get("k"), str):
            return str(data["k"])
    return form.hidden.get("item_key") or None


# --------------------------------------------------------------------------- eligibility


def _compare(value: int | str | None, comparator: str, targets: Sequence[int | str]) -> bool:
    if comparator == "Exists":
        return value is not None
    if comparator == "DoesNotExist":
        return value is None
    if value is None:
        return False
    if comparator == "In":
        return value in targets
    if comparator == "NotIn":
        return value not in targets
    if not targets:
        return False
    t = targets[0]
    if comparator == "EqualTo":
        return value == t
    if comparator == "NotEqualTo":
        return value != t
    if not (isinstance(value, int) and isinstance(t, int)):
        return False
    return {
        "LessThan": value < t,
        "LessThanOrEqualTo": value <= t,
        "GreaterThan": value > t,
        "GreaterThanOrEqualTo": value >= t,
    }.get(comparator, False)


def is_eligible(
    worker: SimWorker,
    requirements: Sequence[Mapping[str, Any]],
    qualification_value: Callable[[str, str], int | None],
) -> bool:
    """Whether ``worker`` meets every MTurk ``QualificationRequirement`` (as wire dicts)."""
    for req in requirements:
        qid = str(req.get("QualificationTypeId", ""))
        comp = str(req.get("Comparator", ""))
        value: int | str | None
        targets: list[int | str]
        if qid == LOCALE:
            value = worker.locale
            targets = [str(loc.get("Country", "")) for loc in req.get("LocaleValues", [])]
        else:
            if qid == PERCENT_APPROVED:
                value = worker.approval_rate
            elif qid == NUMBER_APPROVED:
                value = 5000
            else:
                value = qualification_value(qid, worker.worker_id)
            targets = [int(v) for v in req.get("IntegerValues", [])]
        if not _compare(value, comp, targets):
            return False
    return True


# --------------------------------------------------------------------------- answers


def true_label(
    config: SimulatorConfig,
    key: str | None,
    options: Sequence[str],
    current: str,
    rng: np.random.Generator,
) -> str:
    """The label this worker's look at the item reveals (oracle, rating draw, or current)."""
    if key is not None and key in config.oracle:
        return config.oracle[key]
    if key is not None and config.rating_distributions.get(key):
        ratings = config.rating_distributions[key]
        r = float(ratings[int(rng.integers(len(ratings)))])
        if r == config.rating_threshold and config.rating_ties == "coin":
            return config.rating_labels[int(rng.integers(2))]
        return config.rating_labels[1] if r > config.rating_threshold else config.rating_labels[0]
    return current


def simulate_answer(
    worker: SimWorker,
    truth: str,
    form: FormInfo,
    rng: np.random.Generator,
    *,
    anchoring: float = 0.0,
) -> dict[str, str]:
    """The form fields ``worker`` posts for an item whose true label is ``truth``.

    ``anchoring``: probability that the worker answers with the form's ``suggested_label``
    (when it shows one among the options) whatever they perceive. No random draw is spent
    when there is no suggestion or no anchoring, so seeded runs without them are unchanged.
    """
    options = form.options or [truth]
    current = form.hidden.get("current_label", "")
    fields = {k: v for k, v in form.hidden.items() if k != "assignmentId"}
    if rng.random() < worker.garbage_rate:
        return fields  # submitted without answering
    perceived = _perceive(worker, truth, options, current, rng)
    suggested = form.hidden.get("suggested_label", "")
    if anchoring > 0 and suggested in options and rng.random() < anchoring:
        perceived = suggested
    if current and perceived == current:
        fields["is_correct"] = "yes"
    else:
        fields["is_correct"] = "no"
        fields["label"] = perceived
    return fields


def _perceive(
    worker: SimWorker, truth: str, options: Sequence[str], current: str, rng: np.random.Generator
) -> str:
    """The label ``worker`` gives an item whose true label is ``truth``."""
    others = [o for o in options if o != truth]
    if worker.kind == "spammer":
        if rng.random() < 0.5 and current:
            return current
        return options[int(rng.integers(len(options)))]
    # diligent, sloppy and adversarial workers differ only in their accuracy
    if rng.random() < worker.accuracy or not others:
        return truth
    return others[int(rng.integers(len(others)))]


def is_pair_form(form: FormInfo) -> bool:
    """Whether the form is the pair template's (two items, one answer)."""
    return all(f"{side}_key" in form.hidden for side in PAIR_SIDES)


def simulate_pair_answer(
    worker: SimWorker, truths: Sequence[str], form: FormInfo, rng: np.random.Generator
) -> dict[str, str]:
    """The fields ``worker`` posts for a pair HIT whose items' true labels are ``truths``.

    The worker judges each item as it would alone, then says which shown label is wrong
    (``first``, ``second``, ``both``, ``neither``) and picks its label for each wrong side.
    """
    fields = {k: v for k, v in form.hidden.items() if k != "assignmentId"}
    if rng.random() < worker.garbage_rate:
        return fields  # submitted without answering
    wrong: list[str] = []
    for side, truth in zip(PAIR_SIDES, truths, strict=True):
        current = form.hidden.get(f"{side}_current_label", "")
        perceived = _perceive(worker, truth, form.options or [truth], current, rng)
        if perceived != current:
            wrong.append(side)
            fields[f"{side}_label"] = perceived
    fields["wrong"] = "both" if len(wrong) == 2 else (wrong[0] if wrong else "neither")
    return fields


QFA_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)


def build_answer_xml(fields: Mapping[str, str]) -> str:
    """The ``QuestionFormAnswers`` document MTurk stores for a form post."""
    root = ET.Element("QuestionFormAnswers", {"xmlns": QFA_NS})
    for key, value in fields.items():
        ans = ET.SubElement(root, "Answer")
        ET.SubElement(ans, "QuestionIdentifier").text = key
        ET.SubElement(ans, "FreeText").text = value
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
