"""The notebook walkthroughs, ``ldv figures`` and the claim plots (issue 7).

The notebooks are executed end to end by nbclient with ``$LDV_NOTEBOOK_QUICK=1`` (the
small budgets of :func:`numerics.figures.quick_mode`); each must run without error and
show its figures.  Committed notebooks must be stripped of outputs and hold no logic:
their code cells only call into ``theory`` and ``numerics``.
"""

import ast
import math
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

from numerics.figures import QUICK_ENV, claim_plots, write_figures
from numerics.verify import Report

NOTEBOOK_DIR = pathlib.Path(__file__).resolve().parents[1] / "notebooks"

#: notebook -> number of figures it must display
FIGURES = {"01_model": 1, "02_large_N": 2, "03_small_N": 3, "04_real_data": 2}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: statements and expressions that would be logic, not calls into the packages
LOGIC = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.For,
         ast.While, ast.If, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)


def _read(name):
    return nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)


def _code(cell):
    """Cell source without IPython magics (lines starting with %)."""
    return "\n".join(line for line in cell.source.splitlines() if not line.startswith("%"))


def test_every_notebook_is_listed():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(FIGURES)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_is_stripped_and_opens_with_its_question(name):
    nb = _read(name)
    nbformat.validate(nb)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and "**Question:" in first.source
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "outputs not stripped"


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_holds_no_logic(name):
    for cell in _read(name).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(_code(cell))
        found = [type(node).__name__ for node in ast.walk(tree) if isinstance(node, LOGIC)]
        assert not found, f"logic in a notebook cell ({found}):\n{cell.source}"
        imported = [alias.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, (ast.Import, ast.ImportFrom))
                    for alias in (node.names if isinstance(node, ast.Import)
                                  else [ast.alias(node.module or "")])]
        assert set(imported) <= {"theory", "numerics", "IPython"}, imported


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_notebook_executes_and_shows_its_figures(name, monkeypatch):
    if name == "04_real_data":
        pytest.importorskip("sklearn")
    monkeypatch.setenv(QUICK_ENV, "1")  # inherited by the kernel
    nb = _read(name)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK_DIR)}}).execute()
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == FIGURES[name]
    if name == "01_model":  # the derivations are rendered as LaTeX
        latex = [out for out in outputs if "text/latex" in out.get("data", {})]
        assert len(latex) >= 9


def test_write_figures_quick_writes_nonempty_pngs(tmp_path):
    paths = write_figures(tmp_path / "figures", quick=True)
    names = [pathlib.Path(p).name for p in paths]
    expected = ["01_transfer.png", "02_kl_vs_n.png", "02_leading_coefficient.png",
                "03_losses_vs_q.png", "03_regularisation.png", "03_optimal.png"]
    try:
        import sklearn  # noqa: F401
        expected += ["04_spectrum.png", "04_real_vs_gaussian.png"]
    except ImportError:  # pragma: no cover - sklearn is in the test extra
        pass
    assert names == expected
    for path in paths:
        data = pathlib.Path(path).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def _fake_rows():
    """A small report: statistical and exact claims in three groups, one failure."""
    def row(id, group, theory, estimate, stderr, z, verdict, kind="statistical"):
        return {"id": id, "group": group, "kind": kind, "theory": theory,
                "estimate": estimate, "stderr": stderr, "z": z, "verdict": verdict,
                "params": {}, "p": None if z is None else math.erfc(z / math.sqrt(2))}
    return [
        row("A1.one", "A", 1.0, 1.01, 0.01, 1.0, "pass"),
        row("A2.two", "A", 0.5, 0.7, 0.02, 10.0, "fail"),
        row("B1.exact", "B", -3.0, -2.99, None, None, "pass", kind="exact"),
        row("B2.stat", "B", 1e-3, 1.1e-3, 1e-4, 1.0, "pass"),
        row("C1.relative", "C", 0.0, 0.004, 0.003, 1.33, "pass"),
    ]


def test_claim_plots_one_png_per_group(tmp_path):
    report = Report(seed=0, quick=True, rows=_fake_rows(), seconds=0.0)
    paths = claim_plots(report, tmp_path)
    assert [pathlib.Path(p).name for p in paths] == ["claims_A.png", "claims_B.png",
                                                     "claims_C.png"]
    for path in paths:
        assert pathlib.Path(path).read_bytes().startswith(PNG_SIGNATURE)
    # rows alone work too, and only the groups present get a file
    only_b = claim_plots([r for r in _fake_rows() if r["group"] == "B"], tmp_path / "b")
    assert [pathlib.Path(p).name for p in only_b] == ["claims_B.png"]


def test_claim_plots_rejects_rows_without_the_report_columns(tmp_path):
    rows = _fake_rows()
    del rows[0]["stderr"]
    with pytest.raises(ValueError, match="report rows"):
        claim_plots(rows, tmp_path)
