"""The demo's knowledge base (`make run`): the search test set's 50 articles
(tests/kb/articles.json), published by 河北省's manager for the whole province, so a
school of the demo sees suggestions while it types a ticket. Registered with
`accounts.demo` in ready(); nothing is seeded when the test set is not there."""

import json
from pathlib import Path

from kb import services

ARTICLES = Path(__file__).resolve().parent.parent / "tests" / "kb" / "articles.json"


def seed(*, managers) -> None:
    author = managers.get("130000")
    if author is None or not ARTICLES.is_file():
        return
    for item in json.loads(ARTICLES.read_text(encoding="utf-8")):
        article = services.article_create(
            actor=author, title=item["title"], question=item["question"], answer=item["answer"]
        )
        services.article_publish(actor=author, article=article, publish=True)
