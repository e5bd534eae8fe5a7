"""The calibration machinery: mutations, the strict rejection rule, the seeds loop, JSON."""

import argparse
import json

import pytest

from numerics import calibrate, claims as claims_module
from numerics.calibrate import (Mutation, false_alarm_summary, mutations, run_mutation,
                                run_mutations, run_seeds, to_json)
from numerics.claims import Claim, Outcome, all_claims
from numerics.verify import run_suite


def _parser():
    parser = argparse.ArgumentParser(prog="ldv")
    calibrate.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser


def _fake_claim(claim_id, outcome_of_seed):
    """A registry-free claim whose outcome depends only on the root seed."""
    def run(seed_sequence, params):
        return outcome_of_seed(int(seed_sequence.entropy[0]), params)
    return Claim(claim_id, "fake", "test", "T", run, {"x": 1}, {})


def _exact(passed):
    return Outcome("exact", {"x": 1}, 0.0, 0.0, passed=passed)


def _statistical(p):
    return Outcome("statistical", {"x": 1}, 0.0, 1.0, stderr=1.0, z=1.0, p=p)


# --- the catalogue ------------------------------------------------------------------

def test_catalogue_has_ten_or_more_mutations_covering_every_claim():
    catalogue = mutations()
    ids = [m.id for m in catalogue]
    assert len(catalogue) >= 10 and len(set(ids)) == len(ids)
    registered = {c.id for c in all_claims()}
    targeted = {t for m in catalogue for t in m.targets}
    assert targeted <= registered
    # every registered claim (groups A, B, C) is the target of at least one mutation
    assert registered == targeted
    for m in catalogue:
        assert m.description and m.targets


def test_every_mutation_patches_and_restores_its_attributes():
    for m in mutations():
        patches = m.make()
        before = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
        with m.applied():
            for owner, name, original in before:
                assert getattr(owner, name) is not original, (m.id, name)
        for owner, name, original in before:
            assert getattr(owner, name) is original, (m.id, name)


# --- running one mutation -----------------------------------------------------------

def test_a_cheap_mutation_is_rejected_and_the_correct_formula_is_not():
    claim = next(c for c in all_claims() if c.id == "A3.test-loss")
    assert run_suite(seed=0, quick=True, claims=[claim]).rows[0]["verdict"] == "pass"
    mutation = next(m for m in mutations() if m.id == "A3-test-as-train")
    result = run_mutation(mutation, seed=0, budget="quick")
    assert result["rejected"] is True
    assert result["failed_claims"] == ["A3.test-loss"]
    assert result["targets"][0]["z"] > 10


def test_rejection_is_judged_against_the_whole_family():
    # p = 0.004 is rejected alone (≤ 0.01) but not in a family of ten (> 0.001)
    claim = _fake_claim("fake.borderline", lambda seed, params: _statistical(0.004))
    mutation = Mutation("noop", "changes nothing", ("fake.borderline",), lambda: [])
    alone = run_mutation(mutation, claims=[claim], family_size=1)
    in_family = run_mutation(mutation, claims=[claim], family_size=10)
    assert alone["rejected"] and not in_family["rejected"]
    assert in_family["targets"][0]["verdict"] == "pass"


def test_exact_claims_keep_their_own_verdict():
    claim = _fake_claim("fake.exact", lambda seed, params: _exact(False))
    result = run_mutation(Mutation("noop", "", ("fake.exact",), lambda: []), claims=[claim])
    assert result["rejected"] and result["failed_claims"] == ["fake.exact"]


def test_a_mutation_that_cannot_be_applied_is_an_error_not_a_rejection():
    broken = Mutation("broken", "patches a missing attribute", ("A3.test-loss",),
                      lambda: [(calibrate, "no_such_attribute", None)])
    result = run_mutation(broken)
    assert result["rejected"] is False and "no_such_attribute" in result["error"]
    unknown = run_mutation(Mutation("x", "", ("no.such-claim",), lambda: []))
    assert unknown["rejected"] is False and "not registered" in unknown["error"]


def test_mutations_in_forked_workers_do_not_leak_into_the_caller():
    from numerics import claims_model, losses
    chosen = [m for m in mutations() if m.id in ("A3-test-as-train", "A3-loss-no-noise-term")]
    originals = (claims_model.step_losses, losses.compiled_loss)
    results = run_mutations(chosen, workers=2)
    assert [r["id"] for r in results] == [m.id for m in chosen]
    assert all(r["rejected"] for r in results)
    assert (claims_model.step_losses, losses.compiled_loss) == originals


# --- seeds --------------------------------------------------------------------------

def _fake_suite():
    return [_fake_claim("fake.steady", lambda seed, params: _exact(True)),
            _fake_claim("fake.flaky", lambda seed, params: _exact(seed != 3)),
            _fake_claim("fake.stat", lambda seed, params: _statistical(1e-9 if seed == 5
                                                                      else 0.5))]


def test_seeds_loop_reports_the_failed_claims_per_seed():
    results = run_seeds(6, claims=_fake_suite())
    assert [r["seed"] for r in results] == [1, 2, 3, 4, 5, 6]
    failed = {r["seed"]: r["failed_claims"] for r in results}
    assert failed == {1: [], 2: [], 3: ["fake.flaky"], 4: [], 5: ["fake.stat"], 6: []}
    summary = false_alarm_summary(results)
    assert summary["alarms"] == 2 and summary["per_claim"] == {"fake.flaky": 1, "fake.stat": 1}
    with pytest.raises(ValueError, match="seeds must be an integer >= 1"):
        run_seeds(0, claims=_fake_suite())


def test_false_alarm_allowance_is_the_binomial_quantile():
    none = [{"seed": s, "failed_claims": []} for s in range(1, 21)]
    summary = false_alarm_summary(none, level=0.01)
    assert summary["allowed"] == 1  # P(X ≥ 2) = 0.017 ≤ 0.05 < P(X ≥ 1) = 0.18
    assert summary["expected"] == pytest.approx(0.2) and summary["p_value"] == 1.0
    one = [{"seed": 1, "failed_claims": ["a"]}] + none[1:]
    assert false_alarm_summary(one, level=0.01)["p_value"] == pytest.approx(1 - 0.99**20)


# --- JSON and the command line -------------------------------------------------------

def _check_schema(document):
    assert set(document) == {"mutations", "seeds", "family_level"}
    assert 0 < document["family_level"] < 1
    for m in document["mutations"]:
        assert {"id", "description", "rejected", "failed_claims"} <= set(m)
        assert isinstance(m["rejected"], bool) and isinstance(m["failed_claims"], list)
    for s in document["seeds"]:
        assert {"seed", "failed_claims"} <= set(s)
        assert isinstance(s["seed"], int) and isinstance(s["failed_claims"], list)


def test_to_json_has_the_documented_schema():
    document = to_json([{"id": "m", "description": "d", "rejected": True,
                         "failed_claims": ["c"]}], [{"seed": 1, "failed_claims": []}])
    _check_schema(json.loads(json.dumps(document)))


def test_cli_mutations_write_the_documented_json(tmp_path, capsys):
    path = tmp_path / "calibrate.json"
    args = _parser().parse_args(["calibrate", "--mutations", "--only", "A3-test-as-train",
                                 "--json", str(path), "--workers", "1"])
    assert args.budget == "quick"
    assert args.func(args) == 0
    document = json.loads(path.read_text())
    _check_schema(document)
    assert document["seeds"] == []
    [entry] = document["mutations"]
    assert entry["id"] == "A3-test-as-train" and entry["rejected"] is True
    assert entry["failed_claims"] == ["A3.test-loss"]
    assert "1 of 1 mutations rejected" in capsys.readouterr().out


def test_cli_seeds_on_a_fake_suite(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(claims_module, "all_claims", _fake_suite)
    path = tmp_path / "seeds.json"
    args = _parser().parse_args(["calibrate", "--seeds", "4", "--json", str(path),
                                 "--workers", "1", "--no-cache"])
    status = args.func(args)
    document = json.loads(path.read_text())
    _check_schema(document)
    assert [s["failed_claims"] for s in document["seeds"]] == [[], [], ["fake.flaky"], []]
    out = capsys.readouterr().out
    assert "1 of 4 seeds with a failure" in out
    # one alarm in 4 seeds: P(X ≥ 1) = 0.039 ≤ 0.05 at level 0.01, beyond the allowance 0
    assert status == 1


def test_cli_bad_input():
    parser = _parser()
    with pytest.raises(ValueError, match="--mutations and/or --seeds"):
        args = parser.parse_args(["calibrate"])
        args.func(args)
    with pytest.raises(ValueError, match="--only must name mutations"):
        args = parser.parse_args(["calibrate", "--mutations", "--only", "nope"])
        args.func(args)
    with pytest.raises(SystemExit):
        parser.parse_args(["calibrate", "--seeds", "0"])
    assert parser.parse_args(["calibrate", "--mutations", "--full"]).budget == "full"
    assert parser.parse_args(["calibrate", "--seeds", "2", "--default-budget"]).budget == \
        "default"
    with pytest.raises(SystemExit):  # one budget at a time
        parser.parse_args(["calibrate", "--seeds", "2", "--quick", "--full"])
    with pytest.raises(ValueError, match="budget must be one of"):
        run_seeds(1, budget="huge", claims=_fake_suite())
