"""Figure data and the real-data pipeline (numerics.figures, numerics.realdata; issue 7).

The figure functions are checked on what they compute (values against independent
routes) and on what they draw (axes and lines), at sizes far below even the quick
budget.  The notebooks themselves run in tests/test_notebooks.py.
"""

import argparse

import numpy as np
import pytest

from numerics import figures as F
from numerics.asymptotics import expected_kl_identity, transfer_elasticity


def test_quick_mode_reads_the_environment_variable():
    assert F.quick_mode({F.QUICK_ENV: "1"}) and F.quick_mode({F.QUICK_ENV: " Yes "})
    assert not F.quick_mode({F.QUICK_ENV: "0"}) and not F.quick_mode({})


def test_transfer_figure_is_identity_in_the_bulk_and_lifts_small_eigenvalues_with_ridge():
    data = F.transfer_data(c_values=(0.0, 0.1), tau_values=(5.0,), points=31,
                           lam_range=(1e-3, 1e2))
    lam, plain = data["lam"], data["ratio"]["c = 0, τ = ∞"]
    bulk = (lam > 1e-2) & (lam < 10)
    # DESIGN.md: f(λ) = λ up to the start correction ᾱ_T²λ²(λ−1) ≲ 4e-3 and O(1/T)
    assert np.abs(plain[bulk] - 1).max() < 1e-2
    assert np.abs(data["continuous"][bulk] - plain[bulk]).max() < 1e-2
    # ridge and early stopping give f(0) > 0, so f(λ)/λ grows as λ → 0
    assert data["ratio"]["c = 0.1, τ = ∞"][0] > 10 * plain[0]
    assert data["ratio"]["c = 0, τ = 5"][0] > 10 * plain[0]
    fig = F.transfer_figure(data)
    (ax,) = fig.axes
    assert len(ax.get_lines()) == 3 + 3  # three models, the T → ∞ limit, f = λ, 1/ᾱ_T


def test_transfer_data_rejects_a_bad_range():
    with pytest.raises(ValueError, match="lam_range"):
        F.transfer_data(lam_range=(1.0, 0.5))


def test_kl_vs_n_identity_monte_carlo_matches_the_exact_digamma_formula():
    d = 3
    data = F.kl_vs_n_data(ds=(d,), ks=(0.0, 2.0), ratios=(4, 16), n_datasets=400,
                          curve_points=3, seed=1)
    entry = data[d]
    exact = np.array([float(expected_kl_identity(d, int(N))) for N in entry["N"]]) / d
    for k, (mean, stderr) in entry["identity"].items():
        assert np.all(np.abs(mean - exact) < 4 * stderr), (k, mean, exact, stderr)
    assert set(entry["series"]) == {1, 2, 3} and set(entry["a1"]) == {0.0, 2.0}
    fig = F.kl_vs_n_figure(data)
    assert len(fig.axes) == 2  # rows f = identity and DDPM, one column per d


def test_kl_vs_n_rejects_n_below_d():
    with pytest.raises(ValueError, match="ratios"):
        F.kl_vs_n_data(ds=(3,), ratios=(0.5, 2), n_datasets=2)


def test_leading_coefficient_ratio_is_the_squared_elasticity_for_isotropic_data():
    # all λ = 1: every divided difference is f′(1), so a₁ = e(1)²·d(d+1)/4 exactly
    data = F.leading_coefficient_data(ds=(2, 4), ks=(0.0,), models=((0.0, None), (0.1, None)),
                                      points=5)
    for c in (0.0, 0.1):
        e = transfer_elasticity([1.0], c=c)[0]
        np.testing.assert_allclose(data["ratio"][(c, None, 0.0)], e**2, rtol=1e-8)
    fig = F.leading_coefficient_figure(data)
    assert len(fig.axes) == 2 and len(fig.axes[0].get_lines()) == 2 + 1


def test_losses_vs_q_train_below_test_and_gap_opens_past_q_one():
    data = F.losses_vs_q_data(d=12, ks=(1.0,), curve_points=5, mc_qs=(0.5, 2.0),
                              n_datasets=6, seed=2)
    e = data[1.0]
    assert np.all(e["train"] < e["test"])
    assert np.all(np.diff(e["q"]) > 0) and np.all(np.diff(e["train"]) < 0)
    assert e["gap"][e["q"] > 1].min() > e["gap"][e["q"] < 1].max()
    assert np.all(np.isfinite(e["mc"]["gap"][0])) and np.all(e["mc"]["gap"][1] > 0)
    fig = F.losses_vs_q_figure(data)
    assert len(fig.axes) == 2  # one per k, and the gap


def test_regularisation_optimum_is_no_worse_than_the_grid():
    data = F.regularisation_data(d=12, k=1.0, qs=(2.0,), points=7, mc_points=0)
    e = data[2.0]
    assert e["at_c_star"] <= e["test_c"].min() * (1 + 1e-9)
    assert e["at_tau_star"] <= e["test_tau"].min() * (1 + 1e-9)
    assert e["at_c_star"] < e["at_zero"]  # N < d: some ridge beats none
    assert len(F.regularisation_figure(data).axes) == 2


def test_optimal_rows_have_null_space_predictions_only_for_q_above_one():
    rows = F.optimal_data(d=16, ks=(2.0,), qs=(0.5, 2.0))
    below, above = rows
    assert below["q"] < 1 < above["q"]
    assert np.isnan(below["c_null"]) and np.isfinite(above["c_null"])
    assert above["c*"] > below["c*"] > 0
    assert len(F.optimal_figure(rows).axes) == 2


def test_write_figures_refuses_a_file_as_output_directory(tmp_path):
    path = tmp_path / "file.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="out_dir"):
        F.write_figures(path, quick=True)


def test_figures_subcommand_parses_its_options():
    parser = argparse.ArgumentParser(prog="ldv")
    sub = parser.add_subparsers(dest="command", required=True)
    F.add_figures_parser(sub)
    args = parser.parse_args(["figures", "--out", "somewhere", "--quick", "--seed", "3"])
    assert (args.out, args.quick, args.seed, callable(args.func)) == ("somewhere", True, 3, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["figures"])  # --out is required


# --- the digits ------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from numerics.realdata import load_digits_data
    return load_digits_data()


def test_digits_are_centred_scaled_and_rotated_to_the_eigenbasis(digits):
    assert (digits.d, digits.n, digits.zero_variance, digits.rare) == (50, 1797, 3, 11)
    assert np.all(np.diff(digits.lam) <= 0) and digits.lam[-1] > 0
    np.testing.assert_allclose(digits.lam.sum(), digits.d, rtol=1e-12)
    np.testing.assert_allclose(digits.Z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(digits.Z.T @ digits.Z / digits.n, np.diag(digits.lam),
                               atol=1e-10)


def test_digits_keep_61_pixels_without_the_rare_pixel_rule():
    pytest.importorskip("sklearn")
    from numerics.realdata import load_digits_data
    assert load_digits_data(min_fraction=0.0).d == 61  # 64 − 3 zero-variance pixels
    with pytest.raises(ValueError, match="min_fraction"):
        load_digits_data(min_fraction=1.5)


def test_real_sample_covariances_are_seeded_and_chunk_independent(digits):
    from numerics.realdata import real_sample_covariances
    a = real_sample_covariances(digits.Z, 20, 5, 7, chunk=2)
    b = real_sample_covariances(digits.Z, 20, 5, 7, chunk=5)
    assert a.shape == (5, 50, 50) and np.array_equal(a, b)
    assert not np.array_equal(a, real_sample_covariances(digits.Z, 20, 5, 8))


def test_power_law_fit_checks_its_ranks(digits):
    from numerics.realdata import power_law_fit
    fit = power_law_fit(digits.lam)
    assert fit.n == 34 and 0.5 < -fit.exponent < 3
    with pytest.raises(ValueError, match="ranks"):
        power_law_fit(digits.lam, (10, 11))


def test_real_data_deviation_is_finite_and_has_the_signs_of_the_theory(digits):
    from numerics.realdata import deviation_summary, real_data_deviation
    result = real_data_deviation((128, 256), n_datasets=8, data=digits)
    assert result["d"] == 50 and len(result["rows"]) == 2
    for row in result["rows"]:
        assert row["inf_fraction"] == 0.0
        assert all(np.isfinite(v) for key, v in row.items() if key != "N")
        assert row["kl_real"] > 0 and row["kl_gauss"] > 0 and row["kl_a1"] > 0
        assert row["train_real"] < 0 < row["test_real"] and row["train_B"] < 0 < row["test_B"]
    first, second = result["rows"]
    np.testing.assert_allclose(first["kl_a1"], 2 * second["kl_a1"], rtol=1e-12)  # a₁/N
    assert set(deviation_summary(result)[0]) >= {"N", "kl_ratio", "test_ratio", "gap_ratio"}
    assert len(F.real_data_figure(result).axes) == 3
    assert len(F.spectrum_figure(digits).axes) == 1
    with pytest.raises(ValueError, match="Ns"):
        real_data_deviation((40,), n_datasets=2, data=digits)
