"""One shared model, many sessions at once: every analysis must be its own sentence's.

The Production page's model is shared by every session through ``st.cache_resource``. An
earlier version registered a forward hook on that shared model per request, so with concurrent
sessions an analysis could return another session's tensors. ``trace_gpt2`` only reads the
model; this test runs many analyses of different sentences at once on one model and compares
each with a single-threaded run of the same sentence.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from core.production import BUNDLED, analyze_text, load_production_model, trace_gpt2

SENTENCES = [
    "The history of the city began in the",
    "In 1995, the band released their first album.",
    "The river flows through the old town and into the",
    "She said that he",
    "A small village near the coast",
    "During the war, the army moved north to",
    "The game was released for the",
    "Its population was about one million people in",
]
THREADS, CALLS_PER_THREAD = 4, 20


@pytest.fixture(scope="module")
def bundled():
    return load_production_model(BUNDLED)


def _same(a, b) -> bool:
    if a.seq_len != b.seq_len or a.component_names != b.component_names:
        return False
    arrays = ("token_ids", "streams", "attention", "components", "top_ids", "top_probs")
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in arrays) and (
        a.extras["dla"] == b.extras["dla"] and a.token_texts == b.token_texts
    )


@pytest.mark.timeout(600)
def test_concurrent_traces_on_one_model_equal_single_threaded_runs(bundled):
    model, tokenizer = bundled
    expected = {s: trace_gpt2(model, tokenizer, s) for s in SENTENCES}  # one at a time

    def worker(thread: int):
        results = []
        for call in range(CALLS_PER_THREAD):
            sentence = SENTENCES[(thread * 3 + call) % len(SENTENCES)]
            results.append((sentence, trace_gpt2(model, tokenizer, sentence)))
        return results

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        runs = [r for rs in pool.map(worker, range(THREADS)) for r in rs]
    assert len(runs) == THREADS * CALLS_PER_THREAD
    wrong = [s for s, trace in runs if not _same(trace, expected[s])]
    assert wrong == [], f"{len(wrong)} of {len(runs)} concurrent analyses differ"
    assert len({s for s, _ in runs}) == len(SENTENCES)  # lengths differ: cross-talk would show


@pytest.mark.timeout(600)
def test_concurrent_page_analyses_equal_single_threaded_runs(bundled):
    model, tokenizer = bundled
    expected = {s: analyze_text(model, tokenizer, s) for s in SENTENCES[:4]}

    def one(i: int):
        sentence = SENTENCES[i % 4]
        return sentence, analyze_text(model, tokenizer, sentence)

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        runs = list(pool.map(one, range(2 * THREADS * 4)))
    for sentence, got in runs:
        want = expected[sentence]
        assert got["ids"] == want["ids"] and got["dla"] == want["dla"]
        assert np.array_equal(got["attentions"], want["attentions"])
        assert np.array_equal(got["stream_norms"], want["stream_norms"])
