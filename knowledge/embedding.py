"""Chunk and query vectors.

Two embedders, one interface (`embedder().embed(texts) -> float32 matrix, rows L2-normalised`):

* **OpenAI** (`OPENAI_API_KEY` set): `OPENAI_EMBEDDING_MODEL` through the `openai` package, the
  same endpoint (`OPENAI_BASE_URL`) the chat uses.
* **Offline** (no key): feature-hashed bag of words. Each text becomes word unigrams and bigrams
  (lower-cased, a light plural strip), weighted 1 + log(tf), hashed with CRC32 into
  `OFFLINE_DIM` signed buckets and L2-normalised. Why this and not a neural model: nothing may be
  downloaded at run time and there is no key, so the method must need no model weights and no
  vocabulary fitting. Hashing is deterministic and corpus-independent, so a vector stored on a
  chunk at ingestion stays valid as the knowledge base grows; bigrams add some phrase sensitivity;
  rare-term weighting (IDF) comes from the BM25 half of the hybrid retrieval
  (`knowledge.retrieval`), which is where it can be computed over the current corpus.

Each chunk stores its vector (`Chunk.embedding`, float32 bytes) and the embedder's name
(`Chunk.embedding_model`), so switching embedders re-embeds only what is stale.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # numpy is imported where vectors are made: the tokenizer (used by every
    # web request that logs a turn) must not load it into the web process (~16 MB)
    import numpy as np

OFFLINE_DIM = 128  # 100k chunks: a 51 MB matrix, ~5 ms per query product
OFFLINE_NAME = f"offline-hash-{OFFLINE_DIM}"

_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from how i if in is it its my of on or our so "
    "that the their then there these this to was what when where which who why will with you "
    "your me we us".split()
)


def normalise_token(token: str) -> str:
    if len(token) > 4 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without stopwords; shared by BM25 and the hashed vectors."""
    return [normalise_token(t) for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


@lru_cache(maxsize=200_000)
def _bucket(feature: str) -> int:
    h = zlib.crc32(feature.encode())
    # low bits pick the bucket, bit 31 picks the sign (reduces collision bias)
    return (h % OFFLINE_DIM) * (1 if h & 0x80000000 else -1)


def hashed_vector(text: str) -> np.ndarray:
    import numpy as np

    tokens = tokenize(text)
    features = Counter(tokens)
    features.update(f"{a} {b}" for a, b in zip(tokens, tokens[1:], strict=False))
    vec = np.zeros(OFFLINE_DIM, dtype=np.float32)
    for feature, tf in features.items():
        bucket = _bucket(feature)
        weight = 1.0 + math.log(tf)
        if " " in feature:
            weight *= 0.5
        vec[abs(bucket)] += weight if bucket >= 0 else -weight
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm else vec


class OfflineEmbedder:
    name = OFFLINE_NAME

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        if not texts:
            return np.zeros((0, OFFLINE_DIM), dtype=np.float32)
        return np.vstack([hashed_vector(t) for t in texts])


class OpenAIEmbedder:
    batch = 256

    def __init__(self) -> None:
        self.name = f"openai:{settings.OPENAI_EMBEDDING_MODEL}"

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        from reviewhub.llm_client import openai_client

        client = openai_client()
        rows: list[list[float]] = []
        for i in range(0, len(texts), self.batch):
            response = client.embeddings.create(
                model=settings.OPENAI_EMBEDDING_MODEL, input=texts[i : i + self.batch]
            )
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        matrix = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        norms[norms == 0] = 1
        return matrix / norms


def embedder() -> OfflineEmbedder | OpenAIEmbedder:
    return OpenAIEmbedder() if settings.OPENAI_API_KEY else OfflineEmbedder()


def to_bytes(vec: np.ndarray) -> bytes:
    import numpy as np

    return np.asarray(vec, dtype=np.float32).tobytes()


def from_bytes(blob: bytes | memoryview | None) -> np.ndarray | None:
    import numpy as np

    if blob is None:
        return None
    return np.frombuffer(bytes(blob), dtype=np.float32)
