"""The ``ldv`` command line: ``verify``, ``calibrate``, ``figures``, ``list``, ``formula``.

Exit status: 0 when every claim passes, 1 when a claim fails, 2 on bad input (one line
on stderr naming the parameter).
"""

import argparse
import sys

__all__ = ["main"]


def _verify(args):
    from tqdm import tqdm

    from .cache import ResultCache
    from .claims import all_claims
    from .verify import format_table, run_suite

    claims = all_claims()
    cache = ResultCache(enabled=not args.no_cache)
    # the bar appears only for runs longer than a second (delay=1)
    bar = tqdm(total=len(claims), unit="claim", delay=1, leave=False, file=sys.stderr,
               disable=None)  # None: no bar when stderr is not a terminal
    try:
        def progress(claim, cached):
            bar.set_description(claim.id)
            bar.update(1)
        report = run_suite(seed=args.seed, quick=args.quick, full=args.full, claims=claims,
                           progress=progress, cache=cache, workers=args.workers)
    except KeyboardInterrupt:
        bar.close()
        kept = "kept in " + str(cache.directory) if cache.enabled else "not kept (--no-cache)"
        print(f"ldv: interrupted; finished claims are {kept}", file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(format_table(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            fh.write(report.to_json())
    if args.plots:
        from .figures import claim_plots
        for path in claim_plots(report, args.plots):
            print(f"wrote {path}")
    return 0 if report.failed == 0 else 1


def _list(args):
    from .claims import all_claims

    for c in all_claims():
        print(f"{c.id:24s} [{c.group}] {c.statement}\n{'':24s}     regime: {c.regime}")
    return 0


def _formula(args):
    from theory.catalog import FORMULAS, formula

    if args.name == "list":
        for name, (_, description) in FORMULAS.items():
            print(f"{name:28s} {description}")
        return 0
    if args.name not in FORMULAS:
        raise ValueError(f"NAME must be 'list' or one of {', '.join(sorted(FORMULAS))}; "
                         f"got {args.name!r}")
    expr = formula(args.name)
    if args.latex:
        import sympy as sp
        print(sp.latex(expr))
    else:
        print(f"{args.name}: {FORMULAS[args.name][1]}")
        print(expr)
    return 0


def _seed(text):
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be an integer >= 0, got {text}")
    return value


def _workers(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"workers must be an integer >= 1, got {text}")
    return value


def build_parser():
    from .montecarlo import cpu_count

    parser = argparse.ArgumentParser(
        prog="ldv", description="Verify the theory of linear diffusion models on finite "
                                "Gaussian data (Merger & Goldt, arXiv 2505.24769).")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("verify", help="run every claim and print one verdict each")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--quick", action="store_true",
                        help="smaller Monte Carlo budgets (what CI runs)")
    budget.add_argument("--full", action="store_true",
                        help="larger dimensions and budgets (d up to 400; slow)")
    p.add_argument("--seed", type=_seed, default=0, help="root seed (default 0)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--plots", metavar="DIR",
                   help="also write one PNG per claim group (theory, estimate, residuals)")
    p.add_argument("--no-cache", action="store_true",
                   help="neither reuse nor store finished claims (cache: $LDV_CACHE_DIR, "
                        "else $XDG_CACHE_HOME/ldv, else ~/.cache/ldv)")
    p.add_argument("--workers", type=_workers, default=min(2, cpu_count()),
                   help="claims run side by side in this many processes "
                        "(default: min(2, cores)); the result does not depend on it")
    p.set_defaults(func=_verify)
    from .calibrate import add_parser as add_calibrate_parser
    from .figures import add_figures_parser
    add_calibrate_parser(sub)
    add_figures_parser(sub)
    p = sub.add_parser("list", help="list the registered claims")
    p.set_defaults(func=_list)
    p = sub.add_parser("formula", help="print a derived expression")
    p.add_argument("name", help="formula name (run `ldv formula list` to see them)")
    p.add_argument("--latex", action="store_true", help="print LaTeX source")
    p.set_defaults(func=_formula)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:
        print(f"ldv: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
