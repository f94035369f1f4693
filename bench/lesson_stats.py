"""How long each notebook takes to read, by issue 18's measure: prose words / 200 + code lines / 20 (non-blank code
lines that are not `#|` directives), exercises included. The learner's path is the two-digit notebooks 00-05 (goal:
each at most 15 minutes, the path at most 90).

Usage: .venv/bin/python bench/lesson_stats.py [--quick]   (or `make lesson-stats`; --quick is the same, fast run)
Prints one line per notebook (words, code lines, minutes, a mark where a path notebook is over 15 minutes), then the
path's total and the total of every notebook. It reads the notebook files; it runs nothing.
"""
import argparse
import re
from pathlib import Path

import nbformat

NBS = Path(__file__).resolve().parents[1] / "nbs"
WORDS_PER_MINUTE, CODE_LINES_PER_MINUTE = 200, 20
LESSON_LIMIT, PATH_LIMIT = 15, 90
PATH_NOTEBOOK = re.compile(r"^0[0-5]_")  # 00_… to 05_…: the weekend path


def reading(notebook: Path) -> tuple:
    "(prose words, code lines, minutes) of one notebook."
    cells = nbformat.read(notebook, as_version=4).cells
    words = sum(len(cell.source.split()) for cell in cells if cell.cell_type == "markdown")
    code = sum(1 for cell in cells if cell.cell_type == "code" for line in cell.source.splitlines()
               if line.strip() and not line.lstrip().startswith("#|"))
    return words, code, words / WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE


def main() -> None:
    "Print the table."
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted like every benchmark's; this one is quick")
    parser.parse_args()
    path_minutes = total_minutes = 0.0
    print(f"{'notebook':<32} {'words':>6} {'code':>5} {'minutes':>8}")
    for notebook in sorted(NBS.glob("*.ipynb")):
        words, code, minutes = reading(notebook)
        on_path = bool(PATH_NOTEBOOK.match(notebook.name))
        mark = "  over 15 min" if on_path and minutes > LESSON_LIMIT else ""
        print(f"{notebook.name:<32} {words:6d} {code:5d} {minutes:8.1f}{'  (path)' if on_path else ''}{mark}")
        path_minutes += minutes if on_path else 0.0
        total_minutes += minutes
    print(f"the path (00-05): {path_minutes:.0f} minutes (goal: at most {PATH_LIMIT}); "
          f"every notebook: {total_minutes:.0f} minutes")


if __name__ == "__main__":
    main()
