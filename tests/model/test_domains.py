"""Domains: each model's one home for decoding, scoring, query rules and its trained distortion families."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.config import digits_config, tiny_binary_config
from model.domains import BinaryDomain, ImageDomain, domain_of
from model.tasks import random_binary_patterns


def test_a_model_without_distortions_is_trained_on_its_domains_standard_one() -> None:
    assert [f.name for f in domain_of(tiny_binary_config()).trained] == ["erase"]
    assert [f.name for f in domain_of(digits_config()).trained] == ["occlude"]
    mixed = domain_of(tiny_binary_config(distortions=("erase", "flip", "mixed")))
    assert isinstance(mixed, BinaryDomain) and mixed.standard.name == "erase"
    assert [f.name for f in mixed.trained] == ["erase", "flip", "mixed"]


def test_unknown_distortions_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown distortions"):
        domain_of(tiny_binary_config(distortions=("noise",)))  # an image family


def test_binary_families_apply_their_standard_strength() -> None:
    config = tiny_binary_config(distortion_size=8, flip_bits=6)
    domain = domain_of(config)
    X = random_binary_patterns(3, 4, 32)
    generator = torch.Generator().manual_seed(0)
    Q, known = domain.families["erase"](X, generator)
    assert ((Q == 0).sum(-1) == 8).all() and torch.equal(known, Q != 0)
    Q, known = domain.families["flip"](X, generator)
    assert ((Q != X).sum(-1) == 6).all() and not known.any()
    Q, known = domain.families["mixed"](X, generator)
    assert ((Q == 0).sum(-1) == 4).all() and ((Q == -X).sum(-1) == 3).all() and not known.any()
    assert domain.families["flip"].description == "flip 6 of 32 entries"


def test_training_strengths_cover_the_families_range() -> None:
    domain = domain_of(tiny_binary_config(flip_bits=16))
    generator = torch.Generator().manual_seed(0)
    flips = {domain.families["flip"].training_strength(generator) for _ in range(400)}
    assert flips == set(map(float, range(4, 25)))  # a quarter to one and a half times the standard 16
    assert {domain.families["erase"].training_strength(generator) for _ in range(20)} == {8.0}  # fixed
    noise = ImageDomain(digits_config()).families["noise"]
    sigmas = [noise.training_strength(generator) for _ in range(400)]
    assert 0.05 <= min(sigmas) < 0.07 and 0.28 < max(sigmas) <= 0.3


def test_training_draws_every_trained_family() -> None:
    domain = domain_of(digits_config(distortions=("occlude", "noise", "salt-pepper")))
    generator = torch.Generator().manual_seed(0)
    drawn = [domain.sample_training_family(generator).name for _ in range(300)]
    assert {name: drawn.count(name) for name in set(drawn)}.keys() == {"occlude", "noise", "salt-pepper"}
    assert min(drawn.count(name) for name in set(drawn)) > 70


def test_image_families() -> None:
    domain = domain_of(digits_config())
    X = torch.rand(2, 3, 1, 8, 8)
    generator = torch.Generator().manual_seed(0)
    Q, known = domain.families["occlude"](X, generator)
    assert (~known).sum(dim=(-1, -2, -3)).eq(16).all() and (Q[~known] == 0.5).all()
    Q, known = domain.families["occlude-free"](X, generator)
    assert not known.any() and (Q == 0.5).flatten(2).sum(-1).ge(16).all()
    Q, known = domain.families["noise"](X, generator)
    assert not known.any() and Q.min() >= 0 and Q.max() <= 1
    Q, known = domain.families["salt-pepper"](X, generator)
    assert not known.any() and set(Q[Q != X].unique().tolist()) <= {0.0, 1.0}


def test_binary_rules() -> None:
    domain = domain_of(tiny_binary_config())
    states = torch.tensor([[[0.3, -0.2, 0.0, -1.0]]])
    assert domain.decode(states).tolist() == [[[1.0, -1.0, 1.0, -1.0]]]  # 0 is never an answer
    X = torch.tensor([[[1.0, -1.0, 1.0, 1.0]]])
    assert domain.recall_error(states, X).tolist() == [[2.0]]  # a 0 state counts as wrong
    query = torch.tensor([[[1.0, 0.0, 1.0, -1.0]]])
    assert domain.changed(domain.decode(states), query).tolist() == [[0.25]]  # the 0 got an answer
    assert domain.default_known(np.array([[1.0, 0.0, -1.0]])).tolist() == [[True, False, True]]
    assert domain.pattern_values == (-1.0, 1.0) and domain.query_values == (-1.0, 0.0, 1.0)


def test_image_rules() -> None:
    domain = domain_of(digits_config())
    X = torch.zeros(1, 2, 1, 8, 8)
    answer = X.clone()
    answer[0, 1, 0, 0, :4] = 1.0
    assert domain.recall_error(answer, X).tolist() == [[0.0, 4 / 64]]
    assert domain.changed(answer, X).tolist() == [[0.0, 4 / 64]]
    assert domain.default_known(X) is None  # every pixel moves unless the client marks some known
    assert domain.exact_error == 0.005
