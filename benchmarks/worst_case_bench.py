"""The most expensive valid request against a typical one: CPU time per request.

    .venv/bin/python benchmarks/worst_case_bench.py [DATA.csv] [--repetitions 40]

Trains a model on DATA (default: the real corpus) and serves it in-process
(``create_app`` and Flask's test client, the request log on, SQLite), then
sends ``POST /predict`` bodies and measures the CPU time of each with
``time.process_time``: the whole process's, so JSON parsing, validation, the
model, the answer and the request log's writer thread all count. Each
repetition of a costly case uses words no request used before: the
lemmatizer caches the words it has seen, so a repeated request would be cheap.

The costly cases fill every limit of ``api/schemas.py`` (title and
description at their maximum length, ``n_results`` at its maximum, every
filter with its maximum number of values, of the longest length the 64 KB
body leaves room for) in the ways that cost most: words spaCy's tokenizer
must split (punctuation inside and around them), and the corpus' commonest
words, whose postings are the longest the ranking walks. For scale, a title
as long as the 64 KB body allowed before the limits, given to Model.predict.
Target: the worst valid request costs under 100 times a typical one.

Then ``POST /review``'s costliest valid request: ``MAX_SUBMISSIONS``
submissions sharing the text budget (``MAX_REVIEW_TEXT`` characters, spread
over title, abstract and description in proportion to their limits) of new
words the tokenizer splits, ``n_results`` at its maximum; against a typical
review (10 real talks). Target: under ``REVIEW_TARGET_SECONDS`` of CPU, well
inside gunicorn's 30 s worker timeout (a busy machine stretches the wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import string
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from api import MAX_BODY_BYTES, create_app
from api.review import MAX_REVIEW_RESULTS, MAX_REVIEW_TEXT, MAX_SUBMISSIONS
from api.schemas import MAX_FILTER_VALUE_LENGTH, MAX_FILTER_VALUES, MAX_RESULTS, MAX_TEXT_LENGTH
from text_similarity_model import Model
from text_similarity_model.contract import FILTER_COLUMNS, TEXT_COLUMNS
from text_similarity_model.corpus import clean_talks, read_talks_csv
from text_similarity_model.settings import REAL_CSV

TYPICAL = {
    "title": "Criando e fazendo deploy de uma API REST para modelos de aprendizagem de máquina",
    "description": "Nesta palestra vamos treinar um modelo usando o scikit-learn e usar o Flask para "
                   "construir uma API REST capaz de disponibilizar o modelo como um serviço web.",
    "n_results": 3,
}
TARGET_RATIO = 100
REVIEW_TARGET_SECONDS = 5


class NewWords:
    """Words no request used before (seeded: every run sends the same ones)."""

    def __init__(self, seed: int = 14):
        self.random = random.Random(seed)

    def word(self) -> str:
        return "".join(self.random.choices(string.ascii_lowercase, k=self.random.randint(4, 9)))

    def split_by_the_tokenizer(self) -> str:
        """A chunk spaCy's tokenizer cuts in five: a prefix, an infix, a suffix."""
        return f"({self.word()},{self.word()})."

    def attached_to(self, word: str) -> str:
        """A corpus word with a new one after a comma: the tokenizer splits them, the ranking gets the word."""
        return f"{word},{self.word()}"


def fill(length: int, chunks) -> str:
    """Chunks joined by spaces up to exactly ``length`` characters."""
    text = ""
    while len(text) < length:
        text += next(chunks) + " "
    return text[:length]


def commonest_words(corpus, model: Model, count: int = 2000) -> list[str]:
    """The corpus' words the lemmatizer keeps, by how many talks have them."""
    kept = model.pipeline.named_steps["lemmas"].word_lemmas_
    talks_with = Counter()
    for title, description in zip(corpus["title"], corpus["description"]):
        talks_with.update({word for word in f"{title} {description}".lower().split() if kept.get(word)})
    return [word for word, _ in talks_with.most_common(count)]


def fullest_filters(model: Model, room: int) -> dict:
    """Every filter with ``MAX_FILTER_VALUES`` values: the corpus' own first (so
    talks remain), then new ones as long as ``room`` characters allow."""
    own = {column: model.facets()[column][:MAX_FILTER_VALUES] for column in FILTER_COLUMNS}
    new = {column: MAX_FILTER_VALUES - len(values) for column, values in own.items()}
    texts = [column for column in FILTER_COLUMNS if column != "ano"]
    length = min(MAX_FILTER_VALUE_LENGTH, room // max(sum(new[column] for column in texts), 1) - 4)  # 4: quotes, comma, space
    filters = {"ano": own["ano"] + list(range(3000, 3000 + new["ano"]))}
    for column in texts:
        filters[column] = own[column] + [f"{column}-{number:06d}".ljust(length, "x") for number in range(new[column])]
    return filters


def cpu_ms_per_request(client, bodies, expected_status: int = 200) -> float:
    """Mean CPU milliseconds of the requests ``bodies`` yields."""
    bodies = list(bodies)
    started = time.process_time()
    for body in bodies:
        response = client.post("/predict", data=body, content_type="application/json")
        if response.status_code != expected_status:
            raise RuntimeError(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    return (time.process_time() - started) * 1000 / len(bodies)


def costliest_review(new: NewWords) -> bytes:
    """pretalx's JSON of MAX_SUBMISSIONS submissions whose text, all together, is MAX_REVIEW_TEXT
    characters of new words the tokenizer splits, in each field's share of the limits."""
    limits = {"title": MAX_TEXT_LENGTH["title"], "abstract": MAX_TEXT_LENGTH["description"],
              "description": MAX_TEXT_LENGTH["description"]}
    each = MAX_REVIEW_TEXT // MAX_SUBMISSIONS
    lengths = {name: limit * each // sum(limits.values()) for name, limit in limits.items()}

    def chunks():
        while True:
            yield new.split_by_the_tokenizer()

    results = [{"code": f"C{number:04d}", **{name: fill(length, chunks()) for name, length in lengths.items()}}
               for number in range(MAX_SUBMISSIONS)]
    return json.dumps({"results": results}).encode()


def review_cpu_seconds(client, bodies: list[bytes], n_results: int) -> float:
    """Mean CPU seconds of POST /review with each of ``bodies``."""
    started = time.process_time()
    for body in bodies:
        response = client.post(f"/review?n_results={n_results}", data=body, content_type="application/json")
        if response.status_code != 200:
            raise RuntimeError(f"{response.status_code} {response.get_data(as_text=True)[:300]}")
    return (time.process_time() - started) / len(bodies)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", nargs="?", default=str(REAL_CSV))
    parser.add_argument("--repetitions", type=int, default=40, help="requests per case")
    arguments = parser.parse_args()
    repetitions = arguments.repetitions

    talks, _ = read_talks_csv(arguments.data)
    corpus, _ = clean_talks(talks)
    model = Model()
    model.train(talks)
    common = commonest_words(corpus, model)
    new = NewWords()

    def cycle(words):
        while True:
            yield from words

    def unseen_chunks():
        while True:
            yield new.split_by_the_tokenizer()

    def unseen_with_common_words():
        for word in cycle(common):
            yield new.attached_to(word)

    def text_body(chunks, **extra) -> bytes:
        fields = {field: fill(MAX_TEXT_LENGTH[field], chunks) for field in TEXT_COLUMNS}
        return json.dumps({**fields, "n_results": MAX_RESULTS, **extra}, ensure_ascii=False).encode()

    with tempfile.TemporaryDirectory() as folder:
        model_path = Path(folder) / "model.pkl"
        model.serialize(model_path)
        app = create_app({"MODEL_PATH": str(model_path), "DATABASE_URL": f"sqlite:///{Path(folder) / 'requests.db'}"})
        client = app.test_client()
        served = app.extensions["palestras"].model_holder.model
        room = MAX_BODY_BYTES - len(text_body(cycle(common))) - 200
        filters = fullest_filters(served, room)

        full = f"every filter full ({MAX_FILTER_VALUES} values each)"
        cases = {
            "typical: a real talk's title and description, n_results=3":
                lambda: [json.dumps(TYPICAL).encode()] * repetitions,
            f"typical, with {full}":
                lambda: [json.dumps({**TYPICAL, **filters}).encode()] * repetitions,
            "text limits full of the corpus' commonest words, n_results=50":
                lambda: [text_body(cycle(common))] * repetitions,
            "text limits full of corpus words with new ones attached, n_results=50":
                lambda: [text_body(unseen_with_common_words()) for _ in range(repetitions)],
            "text limits full of new words the tokenizer splits, n_results=50":
                lambda: [text_body(unseen_chunks()) for _ in range(repetitions)],
            f"the same, with {full}":
                lambda: [text_body(unseen_chunks(), **filters) for _ in range(repetitions)],
        }
        cpu_ms = {}
        for name, bodies in cases.items():
            cpu_ms_per_request(client, bodies()[:2])  # warm-up
            cpu_ms[name] = cpu_ms_per_request(client, bodies())
        largest = max(len(body) for body in cases[f"the same, with {full}"]())
        over_limit = json.dumps({"title": fill(60_000, unseen_chunks()), "description": ""}).encode()
        refused_ms = cpu_ms_per_request(client, [over_limit] * repetitions, expected_status=400)
        before_started = time.process_time()
        for _ in range(3):
            served.predict({"title": fill(60_000, unseen_chunks()), "description": ""}, MAX_RESULTS)
        before_ms = (time.process_time() - before_started) * 1000 / 3
        typical_review = json.dumps(corpus[["title", "description"]].sample(10, random_state=20).to_dict("records")).encode()
        review_cpu_seconds(client, [typical_review], MAX_REVIEW_RESULTS)  # warm-up
        typical_review_s = review_cpu_seconds(client, [typical_review] * repetitions, 5)
        costly_reviews = [costliest_review(new) for _ in range(3)]
        costliest_review_s = review_cpu_seconds(client, costly_reviews, MAX_REVIEW_RESULTS)
        app.extensions["palestras"].request_log.close()

    typical = cpu_ms[next(iter(cases))]
    worst_name = max(cpu_ms, key=cpu_ms.get)
    print(f"POST /predict in-process (Flask test client, request log on), CPU time per request "
          f"(time.process_time, mean of {repetitions}); corpus {arguments.data} ({len(corpus)} talks); "
          f"limits: title {MAX_TEXT_LENGTH['title']}, description {MAX_TEXT_LENGTH['description']} characters, "
          f"{MAX_FILTER_VALUES} values per filter; {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    print("| request | CPU ms | x typical |")
    print("|---|---:|---:|")
    for name, value in cpu_ms.items():
        print(f"| {name} | {value:.2f} | {value / typical:.1f} |")
    print(f"| a 60 KB title of new words, refused (400) | {refused_ms:.2f} | {refused_ms / typical:.1f} |")
    print(f"| before the limits: that title, answered (Model.predict alone) | {before_ms:.1f} | {before_ms / typical:.0f} |")
    ratio = cpu_ms[worst_name] / typical
    print(f"worst valid request: {worst_name} ({largest / 1024:.0f} KB body with filters): {cpu_ms[worst_name]:.2f} ms "
          f"of CPU, {ratio:.0f}x a typical one (target < {TARGET_RATIO}x): {'OK' if ratio < TARGET_RATIO else 'MISSED'}")
    review_ok = costliest_review_s < REVIEW_TARGET_SECONDS
    print(f"POST /review, CPU time per request (mean of 3, each of other new words): costliest valid review "
          f"({MAX_SUBMISSIONS} submissions, {MAX_REVIEW_TEXT:,} characters of new words the tokenizer splits, "
          f"{len(costly_reviews[0]) / 1e6:.1f} MB of pretalx JSON, n_results={MAX_REVIEW_RESULTS}): "
          f"{costliest_review_s:.2f} s, {costliest_review_s / typical_review_s:.0f}x a typical review of 10 real talks "
          f"({typical_review_s * 1000:.1f} ms); target < {REVIEW_TARGET_SECONDS} s: {'OK' if review_ok else 'MISSED'}")
    return 0 if ratio < TARGET_RATIO and review_ok else 1


if __name__ == "__main__":
    sys.exit(main())
