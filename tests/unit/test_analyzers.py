"""ResidualStreamAnalyzer against streams built by hand, where the answer is known."""

import math

import pytest
import torch

from core.analyzers import ResidualStreamAnalyzer
from core.validators import ValidationError

A = ResidualStreamAnalyzer()


def finite_everywhere(result) -> bool:
    for value in result.values():
        if isinstance(value, torch.Tensor) and not torch.isfinite(value).all():
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if isinstance(value, list) and not all(math.isfinite(v) for v in value):
            return False
    return True


def test_identical_streams_preserve_everything():
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(0))
    ev = A.analyze_evolution(x, x.clone())
    assert ev["preservation_ratio"].tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    assert ev["total_change"] == 0.0 and ev["directional_change"] == pytest.approx(1.0)
    assert torch.equal(ev["delta_norm"], torch.zeros(2, 5, dtype=torch.float64))
    assert torch.equal(ev["addition_magnitude"], torch.zeros(2, 5, dtype=torch.float64))
    per = A.track_information_persistence([x, x.clone(), x.clone()])
    assert per["similarities_to_initial"] == pytest.approx([1.0, 1.0], abs=1e-12)
    assert per["cumulative_changes"] == [0.0, 0.0]
    assert per["information_decay_rate"] == pytest.approx(0.0, abs=1e-12)
    assert per["stability_score"] == pytest.approx(1.0, abs=1e-12)
    assert per["final_similarity"] == pytest.approx(1.0, abs=1e-12)


def test_orthogonal_addition_of_equal_norm():
    # Input along e0, the layer adds the same length along e1 at every position.
    x_in = torch.zeros(1, 3, 4)
    x_in[..., 0] = 2.0
    delta = torch.zeros(1, 3, 4)
    delta[..., 1] = 2.0
    ev = A.analyze_evolution(x_in, x_in + delta)
    assert ev["preservation_ratio"].item() == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert ev["total_change"] == pytest.approx(1.0, abs=1e-12)
    assert ev["addition_magnitude"][0].tolist() == pytest.approx([1.0, 1.0, 1.0], abs=1e-12)
    assert ev["output_norm"][0].tolist() == pytest.approx([2 * math.sqrt(2)] * 3, abs=1e-12)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_rank_k_with_equal_singular_values(k):
    g = torch.Generator().manual_seed(k)
    U, _ = torch.linalg.qr(torch.randn(12, k, generator=g, dtype=torch.float64))
    V, _ = torch.linalg.qr(torch.randn(32, k, generator=g, dtype=torch.float64))
    x = (3.0 * U @ V.T).reshape(2, 6, 32)  # singular values all 3.0
    sub = A.analyze_subspace_usage(x)
    assert sub["effective_rank"] == k
    assert sub["full_rank"] == 32 and sub["rank_cap"] == 12
    assert sub["rank_utilization"] == pytest.approx(k / 32)
    assert sub["cap_utilization"] == pytest.approx(k / 12)
    assert sub["singular_values"][:k].tolist() == pytest.approx([3.0] * k, abs=1e-9)
    assert sub["subspace_concentration"] == pytest.approx(1.0)
    assert sub["information_density"] == pytest.approx(k / 12)


def test_energy_threshold_counts_fewest_directions():
    # Energies 80, 15, 5 (%): two directions hold 95% >= 90%, one holds only 80%.
    x = torch.zeros(1, 3, 3, dtype=torch.float64)
    x[0, 0, 0], x[0, 1, 1], x[0, 2, 2] = math.sqrt(80), math.sqrt(15), math.sqrt(5)
    assert A.analyze_subspace_usage(x)["effective_rank"] == 2


def test_rank_is_capped_by_tokens():
    x = torch.randn(1, 4, 64, generator=torch.Generator().manual_seed(1))
    sub = A.analyze_subspace_usage(x)
    assert sub["rank_cap"] == 4 and sub["effective_rank"] <= 4
    assert len(sub["singular_values"]) == 4


def test_one_token():
    x = torch.randn(1, 1, 8, generator=torch.Generator().manual_seed(2))
    y = x * 3
    ev = A.analyze_evolution(x, y)
    assert ev["preservation_ratio"].item() == pytest.approx(1.0)
    assert ev["total_change"] == pytest.approx(2.0)
    sub = A.analyze_subspace_usage(x)
    assert sub["effective_rank"] == 1 and sub["rank_cap"] == 1 and sub["cap_utilization"] == 1.0


def test_one_layer():
    x0 = torch.zeros(1, 2, 4)
    x0[..., 0] = 1.0
    x1 = x0.clone()
    x1[..., 1] = 1.0  # cosine with x0: 1/sqrt(2); relative change 1
    per = A.track_information_persistence([x0, x1])
    assert per["similarities_to_initial"] == pytest.approx([1 / math.sqrt(2)])
    assert per["cumulative_changes"] == pytest.approx([1.0])
    assert per["information_decay_rate"] == pytest.approx(1 - 1 / math.sqrt(2))
    assert per["peak_change_layer"] == 0 and per["stability_score"] == pytest.approx(1.0)


def test_no_layers_at_all():
    per = A.track_information_persistence([torch.ones(1, 2, 4)])
    assert per["similarities_to_initial"] == [] and per["final_similarity"] == 1.0
    assert per["information_decay_rate"] == 0.0 and per["stability_score"] == 1.0


def test_peak_change_layer_and_decay():
    x0 = torch.zeros(1, 1, 3)
    x0[..., 0] = 1.0
    x1 = x0 * 1.1  # relative change 0.1, same direction
    x2 = x1.clone()
    x2[..., 1] = 1.1  # relative change 1.0, now at 45 degrees
    per = A.track_information_persistence([x0, x1, x2])
    assert per["cumulative_changes"] == pytest.approx([0.1, 1.0])
    assert per["peak_change_layer"] == 1
    assert per["similarities_to_initial"] == pytest.approx([1.0, 1 / math.sqrt(2)])
    assert per["information_decay_rate"] == pytest.approx((1 - 1 / math.sqrt(2)) / 2)
    assert per["stability_score"] == pytest.approx(1 - (1 - 1 / math.sqrt(2)) / 2)


def test_zero_stream_gives_defined_values_and_says_why():
    z = torch.zeros(1, 3, 4)
    ev = A.analyze_evolution(z, z)
    assert finite_everywhere(ev)
    assert ev["preservation_ratio"].item() == 1.0 and ev["total_change"] == 0.0
    ev2 = A.analyze_evolution(z, torch.ones(1, 3, 4))
    assert finite_everywhere(ev2)
    assert ev2["preservation_ratio"].item() == 0.0
    assert {"preservation_ratio", "addition_magnitude", "total_change"} <= set(ev2["undefined"])
    sub = A.analyze_subspace_usage(z)
    assert sub["effective_rank"] == 0 and "effective_rank" in sub["undefined"]
    assert finite_everywhere(sub)
    per = A.track_information_persistence([z, z, torch.ones(1, 3, 4)])
    assert finite_everywhere(per) and "cumulative_changes" in per["undefined"]


def test_huge_norms_do_not_overflow():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 6, 16, generator=g) * 1e30  # float32; its squares would overflow
    y = x * 2
    ev = A.analyze_evolution(x, y)
    assert finite_everywhere(ev)
    assert ev["preservation_ratio"].item() == pytest.approx(1.0)
    assert ev["total_change"] == pytest.approx(1.0)
    small = A.analyze_subspace_usage(x / 1e30)
    big = A.analyze_subspace_usage(x)
    assert big["effective_rank"] == small["effective_rank"]
    assert finite_everywhere(big)


@pytest.mark.parametrize(
    "bad, pattern",
    [
        ([], "empty"),
        (torch.zeros(1, 2, 3), "must be a list"),
        ([torch.zeros(1, 2, 3), torch.zeros(1, 3, 3)], r"residual_streams\[1\] has shape"),
        ([torch.zeros(2, 3)], "must be 3-D"),
        ([torch.tensor([[[1.0, float("nan")]]])], "NaN"),
        ([torch.zeros(1, 2, 3, dtype=torch.long)], "floating-point"),
    ],
)
def test_bad_inputs_are_refused(bad, pattern):
    with pytest.raises(ValidationError, match=pattern):
        A.track_information_persistence(bad)


def test_evolution_needs_matching_shapes():
    with pytest.raises(ValidationError, match="same shape"):
        A.analyze_evolution(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4))
