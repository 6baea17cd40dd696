"""The knowledge base's search test set (articles.json: 50 articles about the roll
system; questions.json: 219 questions as schools type them, each with the article(s)
that answer it) and its measure: recall@5, precision@5, MRR and hit@1 of a method of
kb/search.py. Used by bench/kb_search.py (the table in docs/kb-search.md) and by
tests/kb/test_search_quality.py (the quality gate)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
K = 5


def load() -> tuple[list[dict], list[tuple[str, list[str]]]]:
    articles = json.loads((HERE / "articles.json").read_text(encoding="utf-8"))
    questions = [
        (q, keys) for q, keys in json.loads((HERE / "questions.json").read_text(encoding="utf-8"))
    ]
    return articles, questions


def install(unit, author) -> dict[int, str]:
    """The test set's articles, published at `unit` by `author`: {article pk: key}."""
    from kb import services
    from kb.models import Article

    articles, _ = load()
    keys = {}
    for a in articles:
        article = Article(
            unit=unit, unit_path=unit.path, created_by=author, updated_by=author, published=True
        )
        services._fill(article, a["title"], a["question"], a["answer"])
        article.save()
        keys[article.pk] = a["key"]
    return keys


def evaluate(method: str, keys: dict[int, str], qs=None, cutoff: float | None = None) -> dict:
    """Recall@5 (share of the relevant articles found in the first 5), precision@5
    (relevant among the first 5, over 5), precision of what is shown (relevant among
    the results returned, over their number; a question with no result counts 0),
    MRR (1 / rank of the first relevant one) and hit@1, averaged over the questions."""
    from kb import search
    from kb.models import Article

    qs = qs if qs is not None else Article.objects.filter(published=True)
    _, questions = load()
    recall = precision = shown_precision = mrr = hit1 = empty = 0.0
    for text, relevant in questions:
        found = [
            keys[a.pk]
            for a in search.search(
                qs, text, method=method, limit=K, cutoff=search.CUTOFF if cutoff is None else cutoff
            )
        ]
        good = [k for k in found if k in relevant]
        recall += len(set(good)) / len(relevant)
        precision += len(good) / K
        shown_precision += len(good) / len(found) if found else 0.0
        rank = next((i for i, k in enumerate(found, 1) if k in relevant), None)
        mrr += 1 / rank if rank else 0.0
        hit1 += 1 if rank == 1 else 0
        empty += 0 if found else 1
    n = len(questions)
    return {
        "method": method if not cutoff else f"{method}, cutoff {cutoff:g}",
        "questions": n,
        "recall@5": recall / n,
        "precision@5": precision / n,
        "shown_precision": shown_precision / n,
        "mrr": mrr / n,
        "hit@1": hit1 / n,
        "no_result": int(empty),
    }
