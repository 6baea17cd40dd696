"""Search of the knowledge base that works in Chinese.

Text is cut into words with jieba (search mode: 身份证号 also gives 身份证 and 身份) and
stored pre-segmented on the article (search_title, search_body: tokens joined by
spaces, with a space at both ends). The methods measured on tests/kb/ (219 questions
over 50 articles, bench/kb_search.py, docs/kb-search.md):

- "fts": PostgreSQL full text, `simple` configuration over the pre-segmented text, the
  title weighted A and the rest B, the question's tokens OR-ed, ts_rank.
- "trgm": pg_trgm word_similarity of the raw question against title + question.
- "combo": fts rank + trigram similarity.
- "tokens": jieba tokens matched with LIKE on the pre-segmented text, scored in
  Python (idf of each matched token, a title match counting twice). Runs on any
  database; SQLite's path.

`search()` runs METHOD (chosen by the figures) on PostgreSQL and "tokens" elsewhere.
"""

from __future__ import annotations

import math
import re
import threading

from django.db import connection
from django.db.models import Q, QuerySet

# Chosen by the figures in docs/kb-search.md.
METHOD = "combo"
FALLBACK = "tokens"
LIMIT = 5
# Results scoring under this share of the best one's score are left out: fewer, better
# suggestions (measured: docs/kb-search.md).
CUTOFF = 0.3
# At most this many matching articles are scored (the knowledge base is small; this
# only bounds a pathological question made of very common words).
CANDIDATES = 500

# Words of the roll system that jieba's dictionary splits wrongly or not at all.
DOMAIN_WORDS = [
    "学籍", "学籍号", "临时学籍号", "初始码", "身份证号", "公安认证", "身份核查", "毕业年级",
    "休学", "复学", "转学", "转出", "转入", "异动", "花名册", "学籍卡", "随迁子女",
    "随班就读", "控辍保学", "一人多籍", "小升初", "留级", "跳级", "验证码", "导入模板",
    "科学计数法", "监护人", "人户分离", "跨省", "学校标识码", "班主任",
]  # fmt: skip
STOPWORDS = set(
    "的 了 吗 呢 吧 啊 么 是 在 我 我们 你 你们 他 她 它 这 那 个 一个 怎么 怎么办 怎样 如何 "
    "什么 哪里 哪 在哪 在哪里 能 能不能 可以 要 需要 还 还是 就 都 也 和 与 或 或者 后 "
    "以后 时 时候 请问 一下 有 没有 不 没 被 把 给 让 去 来 到 上 里 中 多久 为什么 "
    "老 说 一直 了吗 好 想 会".split()
)
_WORD = re.compile(r"^\w+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_lock = threading.Lock()
_ready = False


def _jieba():
    global _ready
    import jieba

    if not _ready:
        with _lock:
            if not _ready:
                jieba.setLogLevel(60)
                for word in DOMAIN_WORDS:
                    jieba.add_word(word, freq=20000)
                _ready = True
    return jieba


def tokens(text: str) -> list[str]:
    """The words of `text` (jieba's search mode), lower-cased, without punctuation and
    stop words, each once, in order."""
    seen: dict[str, None] = {}
    for word in _jieba().cut_for_search(text or ""):
        word = word.strip().lower()
        if word and _WORD.match(word) and word not in STOPWORDS and word != "_":
            seen.setdefault(word, None)
    return list(seen)


def index_text(text: str) -> str:
    """Pre-segmented text as stored: tokens joined by spaces, a space at both ends (a
    token is found with LIKE '% word %')."""
    words = tokens(text)
    return f" {' '.join(words)} " if words else ""


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def search(
    qs: QuerySet,
    query: str,
    *,
    method: str | None = None,
    limit: int = LIMIT,
    cutoff: float = CUTOFF,
) -> list:
    """The articles of `qs` that best answer `query`, best first: at most `limit`, and
    only those scoring at least `cutoff` times the best one's score."""
    if method is None:
        method = METHOD if _is_postgres() else FALLBACK
    words = tokens(query)
    if not words:
        return []
    if method == "tokens":
        scored = _by_tokens(qs, words, limit)
    else:
        scored = _by_postgres(qs, query, words, method, limit)
    if not scored:
        return []
    best = scored[0][0]
    return [article for score, article in scored if score >= best * cutoff]


def _by_tokens(qs, words, limit):
    match = Q()
    for w in words:
        match |= Q(search_title__contains=f" {w} ") | Q(search_body__contains=f" {w} ")
    rows = list(qs.filter(match).values_list("pk", "search_title", "search_body")[:CANDIDATES])
    if not rows:
        return []
    total = qs.count()
    docs = [(pk, set(title.split()), set(body.split())) for pk, title, body in rows]
    df = {w: sum(1 for _, t, b in docs if w in t or w in b) for w in words}
    scored = []
    for pk, title, body in docs:
        score = 0.0
        for w in words:
            if df[w]:
                idf = math.log(1 + total / df[w])
                score += idf * ((2.0 if w in title else 0.0) + (1.0 if w in body else 0.0))
        scored.append((score, pk))
    scored.sort(key=lambda s: (-s[0], s[1]))
    scored = scored[:limit]
    by_pk = qs.in_bulk([pk for _, pk in scored])
    return [(score, by_pk[pk]) for score, pk in scored if pk in by_pk]


def _by_postgres(qs, query, words, method, limit):
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
    from django.db.models import F, FloatField, TextField, Value
    from django.db.models.functions import Coalesce, Concat

    vector = SearchVector("search_title", config="simple", weight="A") + SearchVector(
        "search_body", config="simple", weight="B"
    )
    # Tokens are \w+ only (tokens()), so quoting each is enough for a raw tsquery.
    tsquery = SearchQuery(" | ".join(f"'{w}'" for w in words), search_type="raw", config="simple")
    rank = SearchRank(vector, tsquery)
    text = Concat(F("title"), Value(" "), F("question"), output_field=TextField())
    # Control characters out (PostgreSQL refuses a NUL in a text parameter).
    trgm = _WordSimilarity(Value(_CONTROL.sub(" ", query[:200])), text)
    if method == "fts":
        ranked = qs.annotate(score=rank).filter(score__gt=0)
    elif method == "trgm":
        ranked = qs.annotate(score=trgm).filter(score__gt=0.1)
    elif method == "combo":
        ranked = qs.annotate(
            score=Coalesce(rank, Value(0.0), output_field=FloatField())
            + Coalesce(trgm, Value(0.0), output_field=FloatField())
        ).filter(score__gt=0.1)
    else:
        raise ValueError(f"unknown search method {method!r}")
    return [(a.score, a) for a in ranked.order_by("-score", "pk")[:limit]]


class _WordSimilarity:
    """pg_trgm's word_similarity(a, b), built lazily (django.contrib.postgres imports
    need PostgreSQL's driver)."""

    def __new__(cls, a, b):
        from django.db.models import FloatField, Func

        class WordSimilarity(Func):
            function = "WORD_SIMILARITY"
            output_field = FloatField()

        return WordSimilarity(a, b)
