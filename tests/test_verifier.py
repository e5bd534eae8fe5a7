"""The verdict machinery, the CLI, and the verifier's power to reject wrong formulas."""

import json

import pytest

from numerics import claims_model, denoiser
from numerics.claims import all_claims
from numerics.cli import main
from numerics.verdict import FAMILY_LEVEL, holm, p_value


def test_p_values_match_tabulated_quantiles():
    assert p_value(1.959963984540054) == pytest.approx(0.05, rel=1e-9)  # normal 97.5%
    assert p_value(12.706204736174707, df=1) == pytest.approx(0.05, rel=1e-9)  # t_1 97.5%
    assert p_value(0.0) == pytest.approx(1.0)


def test_holm_step_down_on_a_worked_example():
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2 -> stop
    assert holm([0.01, 0.04, 0.03, 0.005], level=0.05) == [True, False, False, True]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    path = tmp_path_factory.mktemp("verify") / "report.json"
    status = main(["verify", "--quick", "--seed", "1", "--json", str(path)])
    return status, json.loads(path.read_text())


def test_verify_writes_the_documented_json_and_every_claim_passes(quick_report):
    status, report = quick_report
    ids = {c["id"] for c in report["claims"]}
    assert {"A1.sgd-minimiser", "A1.gd-early-stopping", "A2.end-to-end",
            "A2.continuous-limit", "A3.train-loss", "A3.test-loss", "B1.exact-identity-kl",
            "B2.series-order", "B3.leading-coefficient", "B4.loss-gap",
            "C1.isotropic-closed-form", "C2.proportional-kl", "C3.proportional-losses"} <= ids
    for row in report["claims"]:
        assert {"id", "statement", "regime", "params", "theory", "estimate", "stderr", "z",
                "verdict"} <= row.keys()
        assert row["verdict"] == "pass", row
    assert report["summary"]["passed"] == len(report["claims"])
    assert report["summary"]["failed"] == 0 and status == 0


def test_cli_list_and_formula(capsys):
    assert main(["list"]) == 0
    assert "A2.end-to-end" in capsys.readouterr().out
    assert main(["formula", "ridge_denoiser", "--latex"]) == 0
    assert "\\frac" in capsys.readouterr().out
    assert main(["formula", "list"]) == 0
    assert "continuous_transfer" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_on_stderr_and_status_2(capsys):
    assert main(["formula", "no_such_formula"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ldv: error: NAME must be 'list' or one of") and "\n" not in err


def _claim(claim_id):
    return next(c for c in all_claims() if c.id == claim_id)


def _rejected(outcome):
    """Would this outcome be rejected even alone in a family of size one?"""
    if outcome.kind == "exact":
        return not outcome.passed
    return outcome.p <= FAMILY_LEVEL / len(all_claims())


# Mutations: each is a plausible slip in a derived formula; the claim that guards it must
# reject it (the suite's power, tested).
def test_wrong_ridge_minimiser_is_rejected(monkeypatch):
    real = denoiser.ratio_function

    def mutated(kind="ridge", module="numpy"):  # a 5% slip in w_t (wrong prefactor)
        f = real(kind, module)
        return lambda k, *a: f(k, *a) * 1.05
    monkeypatch.setattr(denoiser, "ratio_function", mutated)
    assert _rejected(_claim("A1.sgd-minimiser")(0, quick=True))


def test_off_by_one_gradient_descent_formula_is_rejected(monkeypatch):
    real = claims_model.denoiser_matrices

    def mutated(cov, q, **kw):
        if "steps" in kw:
            kw["steps"] = kw["steps"] + 1
        return real(cov, q, **kw)
    monkeypatch.setattr(claims_model, "denoiser_matrices", mutated)
    assert _rejected(_claim("A1.gd-early-stopping")(0, quick=True))


def test_wrong_train_loss_is_rejected(monkeypatch):
    real = claims_model.step_losses
    monkeypatch.setattr(claims_model, "step_losses",
                        lambda *a, **k: tuple(v * 1.01 for v in real(*a, **k)))
    assert _rejected(_claim("A3.train-loss")(0, quick=True))
    assert _rejected(_claim("A3.test-loss")(0, quick=True))


def test_wrong_convergence_order_is_rejected(monkeypatch):
    monkeypatch.setattr(claims_model, "local_error_order", lambda: 3)
    assert _rejected(_claim("A2.continuous-limit")(0, quick=True))


def test_transfer_with_a_wrong_ridge_is_rejected(monkeypatch):
    # the spectral shortcut evaluated with c = 0.05 while the pipeline trains with c = 0
    real = claims_model.transfer_function
    monkeypatch.setattr(claims_model, "transfer_function",
                        lambda lam, **kw: real(lam, **{**kw, "c": 0.05}))
    assert _rejected(_claim("A2.end-to-end")(0, quick=True))
