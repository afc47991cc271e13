"""Checks that the backend allow-list only grows: every case in the baseline is still allow-listed or is a
known regression with a reason, and every allow-listed case is in the baseline."""
import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALLOWLIST = HERE / "backend_allowlist.txt"
BASELINE = HERE / "allowlist_baseline.txt"
REGRESSIONS = HERE / "known_regressions.txt"


def read_names(path: Path) -> list[str]:
    """One case a line; `#` starts a comment."""
    return [line for line in (raw.split("#", 1)[0].strip() for raw in path.read_text().splitlines()) if line]


def read_regressions(path: Path) -> tuple[dict[str, str], list[str]]:
    """`case: reason` lines as {case: reason}, and the problems with the file (a line without a reason)."""
    reasons, problems = {}, []
    for line in read_names(path) if path.is_file() else []:
        case, _, reason = line.partition(":")
        if not reason.strip():
            problems.append(f"{path.name}: '{line}' has no reason (write `case: reason`)")
        reasons[case.strip()] = reason.strip()
    return reasons, problems


def check(allowlist: Path, baseline: Path, regressions: Path) -> list[str]:
    """The problems found; empty when the rule holds."""
    allowed, ever = set(read_names(allowlist)), set(read_names(baseline))
    reasons, problems = read_regressions(regressions)
    for case in sorted(ever - allowed):
        if not reasons.get(case):
            problems.append(f"{case}: passed before ({baseline.name}) but is no longer in {allowlist.name}; "
                            f"list it in {regressions.name} as `{case}: reason`")
    for case in sorted(allowed - ever):
        problems.append(f"{case}: allow-listed but not in {baseline.name}; add it there (the baseline only grows)")
    for case in sorted(set(reasons) & allowed):
        problems.append(f"{case}: allow-listed again; remove it from {regressions.name}")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--allowlist", type=Path, default=ALLOWLIST)
    ap.add_argument("--baseline", type=Path, default=BASELINE)
    ap.add_argument("--regressions", type=Path, default=REGRESSIONS)
    args = ap.parse_args(argv)
    problems = check(args.allowlist, args.baseline, args.regressions)
    for p in problems:
        print(f"error: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
