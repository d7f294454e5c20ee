"""Reviewing a call for papers (issue #15): 1,000 submissions against a model
trained on the real corpus.

    .venv/bin/python benchmarks/review_bench.py [DATA.csv] [--submissions N]

The submissions are built from the corpus (fixed seed): a third are its
talks sent again with light edits (a sentence rewritten, the title's case
changed: re-given talks), half are new talks (each mixing the halves of two
titles and the sentences of two other talks), and the rest are edited copies of
other submissions of the batch (within-batch duplicates).

Reports the in-process ``review()`` (imports and model load excluded; best
of 3), the same plus writing the HTML report, and the whole command to an
HTML report in a fresh process (``text_similarity_model review SUBMISSIONS
MODEL.pkl -o REPORT.html``: imports, model load, reading, reviewing,
writing; best of 3) with its peak memory. Targets: <= 2 s in-process,
<= 6 s for the command.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from text_similarity_model.settings import REAL_CSV

RUNS = 3
SEED = 15


def submissions(talks: list[dict], count: int, rng: random.Random) -> list[dict]:
    """``count`` submissions: re-given talks, new talks, within-batch duplicates (see the module)."""
    def sentences(text: str) -> list[str]:
        return [sentence for sentence in text.split(". ") if sentence]

    def edited(talk: dict) -> dict:
        parts = sentences(talk["description"])
        if len(parts) > 1:
            parts[rng.randrange(len(parts))] = "Mostro também exemplos práticos do dia a dia"
        title = talk["title"].lower() if rng.random() < 0.5 else talk["title"] + " (versão 2)"
        return {"title": title, "description": ". ".join(parts)}

    given, new = count // 3, count // 2
    # More submissions than talks (--submissions 100000): talks drawn with replacement.
    batch = [edited(talk) for talk in (rng.sample(talks, given) if given <= len(talks) else rng.choices(talks, k=given))]
    for _ in range(new):
        first, second, third, fourth = rng.sample(talks, 4)
        words, others = first["title"].split(), second["title"].split()
        mixed = sentences(third["description"])[::2] + sentences(fourth["description"])[1::2]
        batch.append({"title": " ".join(words[:len(words) // 2] + others[len(others) // 2:]),
                      "description": ". ".join(mixed)})
    batch += [edited(submission) for submission in rng.sample(batch, count - len(batch))]
    rng.shuffle(batch)
    return [{"id": f"S{number:05d}", **submission} for number, submission in enumerate(batch, start=1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=REAL_CSV)
    parser.add_argument("--submissions", type=int, default=1_000)
    arguments = parser.parse_args()
    if not arguments.data.is_file():
        print(f"{arguments.data}: not found; pass a talks CSV", file=sys.stderr)
        return 2
    from text_similarity_model import Model
    from text_similarity_model.corpus import read_talks_csv
    from text_similarity_model.review.batch import review
    from text_similarity_model.review.report import write_report

    talks, _ = read_talks_csv(arguments.data)
    model = Model()
    model.train(talks)
    batch = submissions(talks[["title", "description"]].to_dict("records"), arguments.submissions,
                        random.Random(SEED))

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        model_path, data_path, report = folder / "model.pkl", folder / "submissions.csv", folder / "report.html"
        model.serialize(model_path)
        with data_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", "title", "description"])
            writer.writeheader()
            writer.writerows(batch)
        model.predict({"title": "aquecimento", "description": "primeira consulta"}, 5)  # caches built once, as a server's

        in_process, in_process_cpu, with_html = [], [], []
        for _ in range(RUNS):
            started, started_cpu = time.perf_counter(), time.process_time()
            result = review(batch, model, 5)
            reviewed, reviewed_cpu = time.perf_counter(), time.process_time()
            write_report(result, report)
            in_process.append(reviewed - started)
            in_process_cpu.append(reviewed_cpu - started_cpu)
            with_html.append(time.perf_counter() - started)
        summary = result.summary()

        command = [sys.executable, "-m", "text_similarity_model", "review", str(data_path), str(model_path),
                   "-o", str(report)]
        cli, cli_cpu = [], []
        for _ in range(RUNS):
            before = _children_cpu()
            started = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            cli.append(time.perf_counter() - started)
            cli_cpu.append(_children_cpu() - before)
        peak_mb = _peak_memory_mb(command)
        report_mb = report.stat().st_size / 1e6

    n = arguments.submissions
    print(f"data: {arguments.data} ({len(model)} talks), {n:,} submissions ({summary['already_given']} already given, "
          f"{summary['duplicate_groups']} duplicate groups of {summary['in_duplicate_groups']}), "
          f"{os.cpu_count()} cores, best of {RUNS}")
    scale = n / 1_000  # the targets are for 1,000 submissions
    rows = [
        ("review(), in-process", f"{min(in_process):.2f} s", f"<= {2 * scale:g} s", min(in_process) <= 2 * scale),
        ("  its CPU time", f"{min(in_process_cpu):.2f} s", "", True),
        ("review() + HTML report, in-process", f"{min(with_html):.2f} s", "", True),
        ("command to an HTML report", f"{min(cli):.2f} s", f"<= {6 * scale:g} s", min(cli) <= 6 * scale),
        ("  its CPU time", f"{min(cli_cpu):.2f} s", "", True),
        ("  its peak memory (RSS)", "?" if peak_mb is None else f"{peak_mb:.0f} MB", "", True),
        ("  the report", f"{report_mb:.1f} MB", "", True),
    ]
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine slows the wall times)")
    print(f"| {'measure':<36} | {'value':>9} | {'target':<9} | ok  |")
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 11}|-----|")
    for name, value, target, ok in rows:
        print(f"| {name:<36} | {value:>9} | {target:<9} | {'yes' if ok else 'NO':<3} |")
    return 0 if all(ok for *_, ok in rows) else 1


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _peak_memory_mb(command: list[str]) -> float | None:
    """The command's peak resident memory, by GNU time (RUSAGE_CHILDREN's
    would count this process' pages, copied into the child before exec)."""
    if not Path("/usr/bin/time").exists():
        return None
    finished = subprocess.run(["/usr/bin/time", "-f", "%M", *command], check=True, capture_output=True, text=True)
    return int(finished.stderr.strip().splitlines()[-1]) / 1024


if __name__ == "__main__":
    sys.exit(main())
