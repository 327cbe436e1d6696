"""TopicalPageRank keyphrase extraction: params, grammar, tagging, topics, ranking, the model."""

from __future__ import annotations

import csv
import functools
import json
import re
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pytest
from HanTa import HanoverTagger as hanta  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import LatentDirichletAllocation  # type: ignore[import-untyped]

from modelyard.algorithms import keyphrases
from modelyard.algorithms.keyphrases import (
    ChunkGrammar,
    GrammarError,
    InvalidKeyphraseParams,
    InvalidTrainingData,
    Keyphrase,
    KeyphraseModelCorrupt,
    KeyphraseParams,
    Normalization,
    TopicalPageRank,
    read_training_texts,
)
from modelyard.algorithms.keyphrases.normalization import stem_english, stem_german
from modelyard.algorithms.keyphrases.ranking import biased_pagerank, cooccurrence_matrix
from modelyard.algorithms.keyphrases.tagging import Language, SentenceTagger, tagger_for
from modelyard.algorithms.keyphrases.tagsets import UNIVERSAL_TAGS
from modelyard.algorithms.keyphrases.text import tokenize
from modelyard.algorithms.keyphrases.topics import TopicModel
from modelyard.errors import InvalidRequest, ModelLoadFailed

#: The params file of the seed, exactly as it is written.
SEED_PARAMS = json.loads(
    '{"model_name": "TopicalPageRank", "grammar": "NP: {<ADJ>*<NOUN|PROPN>}", '
    '"language": "de", "normalization": "None", "n_topics": "100", "window": "10", '
    '"max_count": "10", "train_df": "factchecks_de.csv"}'
)

GERMAN_CORPUS = [
    "Der Klimawandel verändert das Wetter in Europa. Hitzewellen und Dürren werden häufiger, "
    "und die Landwirtschaft leidet unter den langen Trockenperioden.",
    "Erneuerbare Energien liefern inzwischen mehr als die Hälfte des Stroms. Windkraft und "
    "Solarenergie ersetzen Kohlekraftwerke, doch der Ausbau der Stromnetze hinkt hinterher.",
    "Die Bundesregierung plant neue Förderprogramme für Wärmepumpen. Hausbesitzer sollen beim "
    "Austausch alter Ölheizungen finanzielle Unterstützung erhalten.",
    "Impfungen schützen vor schweren Krankheiten. Das Gesundheitsministerium empfiehlt älteren "
    "Menschen eine jährliche Grippeimpfung im Herbst.",
    "Im Krankenhaus fehlen Pflegekräfte. Die Gewerkschaft fordert höhere Löhne und bessere "
    "Arbeitsbedingungen für das Personal auf den Intensivstationen.",
    "Ein Video in sozialen Netzwerken behauptet, der Impfstoff verändere das Erbgut. "
    "Wissenschaftler widersprechen: Der Impfstoff gelangt nicht in den Zellkern.",
    "Die Inflation steigt, und die Preise für Lebensmittel und Energie klettern. Die "
    "Europäische Zentralbank erhöht deshalb den Leitzins.",
    "Die Mieten in den Großstädten steigen seit Jahren. Viele Familien finden keine bezahlbare "
    "Wohnung, und der soziale Wohnungsbau kommt kaum voran.",
    "Die Bahn kündigt neue Verbindungen an. Mit dem Deutschlandticket fahren Pendler günstiger "
    "im Nahverkehr, doch viele Züge sind verspätet.",
    "Elektroautos brauchen ein dichtes Netz von Ladesäulen. Die Autoindustrie investiert in "
    "neue Batteriefabriken und in die Forschung an besseren Akkus.",
    "Der Meeresspiegel steigt durch den Klimawandel. Küstenstädte bauen höhere Deiche, und "
    "die Gletscher in den Alpen schmelzen schneller als erwartet.",
    "Die Arbeitslosigkeit ist gesunken. Unternehmen suchen Fachkräfte, vor allem in der "
    "Pflege, im Handwerk und in der Informationstechnik.",
]

GERMAN_TEXT = (
    "Der Klimawandel zwingt Deutschland zum Umbau seiner Energieversorgung. Erneuerbare "
    "Energien sollen bis 2030 den größten Teil des Stroms liefern. Dafür braucht das Land "
    "mehr Windkraft an Land und auf See. Doch der Ausbau der Stromnetze kommt nur langsam "
    "voran, und viele Bürger protestieren gegen neue Leitungen. Fachleute halten erneuerbare "
    "Energien dennoch für den schnellsten Weg, den Klimawandel zu bremsen. Die "
    "Bundesregierung verspricht deshalb schnellere Genehmigungen für Windräder und "
    "Solaranlagen. Kritiker warnen vor steigenden Strompreisen für private Haushalte und "
    "für die Industrie. Ein Bericht des Umweltbundesamtes zeigt jedoch, dass die Kosten "
    "der Dürren und Hitzewellen langfristig höher sind als die Kosten der Energiewende."
)

ENGLISH_CORPUS = [
    "Climate change makes heat waves more frequent across Europe. Farmers suffer from droughts.",
    "Renewable energy now supplies half of the electricity. Wind power and solar panels "
    "replace coal plants.",
    "The government plans new subsidies for heat pumps. Homeowners will get financial support.",
    "Vaccines protect against severe disease. The health ministry recommends a yearly flu shot.",
    "Hospitals lack nurses. The union demands higher wages and better working conditions.",
    "Inflation is rising and food prices keep climbing. The central bank raises interest rates.",
]

ENGLISH_TEXT = (
    "Renewable energy is the fastest way to slow down global warming, experts say. The "
    "government promises faster permits for wind turbines and solar panels. Critics warn of "
    "rising electricity prices for private households. Yet the costs of droughts and heat "
    "waves are higher than the costs of renewable energy."
)


def params(**overrides: str) -> KeyphraseParams:
    return KeyphraseParams.parse({**SEED_PARAMS, **overrides})


@pytest.fixture(scope="module")
def german_model() -> TopicalPageRank:
    return TopicalPageRank.fit(params(n_topics="8"), GERMAN_CORPUS)


def phrases(found: list[Keyphrase]) -> list[str]:
    return [keyphrase.phrase for keyphrase in found]


def test_exports_are_importable() -> None:
    assert len(set(keyphrases.__all__)) == len(keyphrases.__all__)
    for name in keyphrases.__all__:
        assert hasattr(keyphrases, name)


# --- params -------------------------------------------------------------------------------


def test_seed_params_parse_to_typed_values() -> None:
    parsed = KeyphraseParams.parse(SEED_PARAMS)
    assert parsed.model_name == "TopicalPageRank"
    assert parsed.grammar == "NP: {<ADJ>*<NOUN|PROPN>}"
    assert parsed.language == "de"
    assert parsed.normalization is Normalization.NONE
    assert (parsed.n_topics, parsed.window, parsed.max_count) == (100, 10, 10)
    assert parsed.train_df == "factchecks_de.csv"
    assert parsed.to_strings() == SEED_PARAMS


def test_params_are_frozen() -> None:
    parsed = KeyphraseParams.parse(SEED_PARAMS)
    with pytest.raises(ValueError, match="frozen"):
        parsed.window = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("model_name", "TextRank", "TopicalPageRank"),
        ("grammar", "NP: {<NN>*}", "unknown tag 'NN'"),
        ("grammar", "NP {<NOUN>}", "LABEL"),
        ("language", "fr", "'de' or 'en'"),
        ("normalization", "upper", "lowercase"),
        ("n_topics", "hundred", "valid integer"),
        ("n_topics", "0", "greater than or equal to 1"),
        ("window", "1", "greater than or equal to 2"),
        ("max_count", "2.5", "valid integer"),
        ("n_topic", "10", "Extra inputs"),
    ],
)
def test_bad_params_name_their_field(field: str, value: str, reason: str) -> None:
    with pytest.raises(InvalidKeyphraseParams) as caught:
        params(**{field: value})
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert reason in str(caught.value)
    assert isinstance(caught.value, InvalidRequest)


def test_missing_model_name_is_named() -> None:
    with pytest.raises(InvalidKeyphraseParams) as caught:
        KeyphraseParams.parse({"language": "de"})
    assert caught.value.field == "model_name"


def test_null_normalization_means_none_and_defaults_fill_in() -> None:
    parsed = KeyphraseParams.parse({"model_name": "TopicalPageRank", "normalization": None})
    assert parsed.normalization is Normalization.NONE
    assert parsed.grammar == keyphrases.DEFAULT_GRAMMAR
    assert parsed.train_df is None
    assert "train_df" not in parsed.to_strings()


# --- grammar ------------------------------------------------------------------------------

GRAMMAR_CASES = [
    ("NP: {<ADJ>*<NOUN|PROPN>}", "DET ADJ ADJ NOUN VERB", [(1, 4)]),
    ("NP: {<ADJ>*<NOUN|PROPN>}", "NOUN NOUN PROPN", [(0, 1), (1, 2), (2, 3)]),
    ("NP: {<ADJ>*<NOUN|PROPN>}", "ADJ ADJ VERB ADJ", []),
    ("NP: {<ADJ>*<NOUN|PROPN>+}", "ADJ NOUN NOUN PROPN ADP NOUN", [(0, 4), (5, 6)]),
    ("NP: {<ADJ>?<NOUN>}", "ADJ ADJ NOUN", [(1, 3)]),
    ("NP: {(<ADJ>|<NUM>)+<NOUN>(<ADP><DET>?<NOUN>)?}", "NUM ADJ NOUN ADP NOUN X", [(0, 5)]),
    ("NP: {(<ADJ>|<NUM>)+<NOUN>(<ADP><DET>?<NOUN>)?}", "ADJ NOUN ADP VERB", [(0, 2)]),
    # Longest, not first-found: the alternation lists the shorter option first.
    ("NP: {(<NOUN>|<NOUN><NOUN>)<ADP>?}", "NOUN NOUN ADP", [(0, 3)]),
    ("NP: {<NOUN>}\nVP: {<VERB><ADV>}", "NOUN VERB ADV", [(0, 1), (1, 3)]),
    ("NP: {<NOUN>} ; AP: {<ADJ><NOUN>}", "ADJ NOUN", [(0, 2), (1, 2)]),
    ("NP: {<ADJ>*}", "ADJ ADJ NOUN ADJ", [(0, 2), (3, 4)]),
    ("NP: {<NOUN>}", "", []),
]


@pytest.mark.parametrize(("grammar", "tags", "expected"), GRAMMAR_CASES)
def test_grammar_finds_leftmost_longest_matches(
    grammar: str, tags: str, expected: list[tuple[int, int]]
) -> None:
    assert ChunkGrammar.parse(grammar).find(tags.split()) == expected


@pytest.mark.parametrize(
    ("grammar", "message"),
    [
        ("", "no rule"),
        ("NP: {}", "empty pattern"),
        ("NP: {<NOUN>(}", "empty alternative"),
        ("NP: {(<NOUN>}", "missing ')'"),
        ("NP: {<NOUN>)}", "unexpected ')'"),
        ("NP: {*<NOUN>}", "unexpected '*'"),
        ("NP: {<NOUN> x}", "unexpected 'x'"),
        ("NP: {<>}", "bad tag"),
        ("NP: {<NN.*>}", "bad tag"),
        ("NP: {<ADJA><NN>}", "unknown tag 'ADJA'"),
        ("NP: }<VERB>{", "chink rules"),
        ("just words", "LABEL"),
    ],
)
def test_bad_grammars_say_why(grammar: str, message: str) -> None:
    with pytest.raises(GrammarError, match=re.escape(message)):
        ChunkGrammar.parse(grammar)


TAGS = sorted(UNIVERSAL_TAGS)
_SMALL_TAGS = ["ADJ", "NOUN", "PROPN", "ADP", "DET"]


def _patterns(depth: int) -> st.SearchStrategy[str]:
    tag_set = st.lists(st.sampled_from(_SMALL_TAGS), min_size=1, max_size=3, unique=True).map(
        lambda tags: "<" + "|".join(tags) + ">"
    )
    element = (
        tag_set
        if depth == 0
        else st.one_of(
            tag_set,
            st.lists(_patterns(depth - 1), min_size=1, max_size=3).map(
                lambda options: "(" + "|".join(options) + ")"
            ),
        )
    )
    quantified = st.tuples(element, st.sampled_from(["", "*", "+", "?"])).map("".join)
    return st.lists(quantified, min_size=1, max_size=3).map("".join)


def _oracle(pattern: str) -> re.Pattern[str]:
    """The same pattern as a Python regex over ``<TAG>`` strings (independent of the DFA)."""
    converted = re.sub(r"<([^<>]*)>", lambda match: "(?:<(?:" + match.group(1) + ")>)", pattern)
    converted = re.sub(r"\((?!\?)", "(?:", converted)
    return re.compile(converted)


@settings(max_examples=150, deadline=None)
@given(
    pattern=_patterns(2),
    tags=st.lists(st.sampled_from([*_SMALL_TAGS, "VERB"]), max_size=14),
)
def test_grammar_matches_are_maximal(pattern: str, tags: list[str]) -> None:
    matches = ChunkGrammar.parse(f"NP: {{{pattern}}}").find(tags)
    oracle = _oracle(pattern)

    def matches_at(start: int, end: int) -> bool:
        return oracle.fullmatch("".join(f"<{tag}>" for tag in tags[start:end])) is not None

    position = 0
    for start, end in matches:
        assert position <= start < end <= len(tags)
        assert matches_at(start, end)
        # Nothing longer from the same start, and no match begins before it.
        assert not any(matches_at(start, longer) for longer in range(end + 1, len(tags) + 1))
        for skipped in range(position, start):
            assert not any(matches_at(skipped, e) for e in range(skipped + 1, len(tags) + 1))
        position = end
    for skipped in range(position, len(tags)):
        assert not any(matches_at(skipped, e) for e in range(skipped + 1, len(tags) + 1))


@settings(max_examples=300, deadline=None)
@given(grammar=st.text(alphabet="NP: {}<>()|*+?ADJNOUVRBX;\n", max_size=40))
def test_grammar_parser_fails_only_with_grammar_errors(grammar: str) -> None:
    try:
        parsed = ChunkGrammar.parse(grammar)
    except GrammarError:
        return
    for rule in parsed.rules:
        assert len(rule.transitions) == len(rule.accepting)


@settings(max_examples=200, deadline=None)
@given(tags=st.lists(st.sampled_from([*TAGS, "NN", "", "$."]), max_size=40))
def test_grammar_never_crashes_on_any_tags(tags: list[str]) -> None:
    found = ChunkGrammar.parse("NP: {<ADJ>*<NOUN|PROPN>}\nVP: {<VERB>+(<ADV>|<ADP>)?}").find(tags)
    assert all(0 <= start < end <= len(tags) for start, end in found)
    assert found == sorted(set(found))


# --- text, tagging, normalisation -----------------------------------------------------------


def test_tokens_and_sentences() -> None:
    text = (
        "Laut Dr. Meier z. B. steigen die Wind- und Solarerträge um 1.000,5 MWh. "
        "Das E-Auto fährt!\n \n neu"
    )
    tokens = tokenize(text)
    assert "Wind-" in tokens.words
    assert "1.000,5" in tokens.words
    assert "E-Auto" in tokens.words
    sentences = [" ".join(tokens.words[a:b]) for a, b in tokens.sentences]
    assert sentences == [
        "Laut Dr . Meier z . B . steigen die Wind- und Solarerträge um 1.000,5 MWh .",
        "Das E-Auto fährt !",
        "neu",
    ]
    assert tokens.surface(0, 3) == "Laut Dr."


@functools.cache
def hanta_tagger(model_file: str) -> Any:
    """HanTa's own tagger, untouched by modelyard (one per model file for the module)."""
    return hanta.HanoverTagger(model_file)


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("de", "Die Bundesregierung will den Ausbau der erneuerbaren Energien beschleunigen ."),
        ("de", "Fachleute widersprechen : Speicher glichen Schwankungen im Strommarkt aus ."),
        ("de", "Windkraftanlagen und Solarparks sollen bis 2030 die Hälfte liefern ."),
        ("en", "The government promises faster permits for wind turbines and solar panels ."),
        ("en", "Critics warn of rising electricity prices for private households ."),
    ],
)
def test_tagger_agrees_with_hanta(language: Language, sentence: str) -> None:
    words = sentence.split()
    model_file = {"de": "morphmodel_ger.pgz", "en": "morphmodel_en.pgz"}[language]
    expected = hanta_tagger(model_file).tag_sent(words, taglevel=0)
    tagger = tagger_for(language)
    assert tagger.tag_hanta(words) == expected
    assert set(tagger.tag(words)) <= UNIVERSAL_TAGS


def test_german_tags_are_universal() -> None:
    words = ["Die", "erneuerbaren", "Energien", "wachsen", "schnell", "in", "Deutschland", "."]
    assert tagger_for("de").tag(words) == [
        "DET",
        "ADJ",
        "NOUN",
        "VERB",
        "ADJ",
        "ADP",
        "PROPN",
        "PUNCT",
    ]


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("Energien", "energi"),
        ("Energie", "energi"),
        ("erneuerbaren", "erneuerbar"),
        ("erneuerbare", "erneuerbar"),
        ("Klimawandels", "klimawandel"),
        ("Kindern", "kind"),
        ("Bäume", "baum"),
        ("Prozesses", "prozess"),
        ("Haus", "haus"),
        ("Ei", "ei"),
    ],
)
def test_german_stemmer(word: str, stem: str) -> None:
    assert stem_german(word) == stem


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("policies", "policy"),
        ("boxes", "box"),
        ("emissions", "emission"),
        ("classes", "class"),
        ("gas", "gas"),
        ("Energy", "energy"),
    ],
)
def test_english_stemmer(word: str, stem: str) -> None:
    assert stem_english(word) == stem


# --- topics and ranking -------------------------------------------------------------------


def test_topic_inference_matches_scikit_learn() -> None:
    rng = np.random.default_rng(7)
    counts = rng.poisson(0.6, size=(40, 30)).astype(np.float64)
    lda = LatentDirichletAllocation(n_components=5, random_state=0).fit(counts)
    model = TopicModel(
        vocabulary=[f"w{i}" for i in range(30)],
        topic_word=lda.components_,
        doc_topic_prior=float(lda.doc_topic_prior_),
    )
    expected = lda.transform(counts[:5])
    for row in range(5):
        ids = np.repeat(np.arange(30), counts[row].astype(int))
        assert np.allclose(model.infer(ids), expected[row], atol=1e-6)


def test_pagerank_matches_networkx() -> None:
    nodes = np.array([0, 1, 2, 0, 3, 1, 4, 0, 1, 5], dtype=np.intp)
    positions = np.array([0, 1, 3, 4, 8, 9, 30, 31, 32, 50], dtype=np.intp)
    weights = cooccurrence_matrix(nodes, positions, 6, window=3)
    # Within 3 words: 0-1 twice (0@0-1@1, 0@31-1@32), 1@1-2@3, 2@3-0@4, 3@8-1@9, 4@30 with
    # 0@31 and 1@32; 0@0-2@3 are 3 apart, too far; 5 stands alone.
    expected_edges = {(0, 1): 2, (1, 2): 1, (0, 2): 1, (1, 3): 1, (0, 4): 1, (1, 4): 1}
    assert {
        (int(i), int(j)): int(weights[i, j]) for i, j in np.argwhere(np.triu(weights))
    } == expected_edges
    assert np.array_equal(weights, weights.T)
    bias = np.array([0.5, 0.1, 0.2, 0.9, 0.3, 0.4])
    graph = nx.Graph()
    graph.add_nodes_from(range(6))
    for (i, j), weight in expected_edges.items():
        graph.add_edge(i, j, weight=float(weight))
    expected = nx.pagerank(graph, personalization=dict(enumerate(bias)), tol=1e-12)
    ranks = biased_pagerank(weights, bias)
    assert np.allclose(ranks, [expected[i] for i in range(6)], atol=1e-5)
    assert ranks.sum() == pytest.approx(1.0)


def test_pagerank_of_an_empty_graph() -> None:
    assert biased_pagerank(np.zeros((0, 0)), np.zeros(0)).shape == (0,)


# --- the model ----------------------------------------------------------------------------


def test_german_keyphrases(german_model: TopicalPageRank) -> None:
    found = german_model.extract(GERMAN_TEXT)
    folded = [phrase.casefold() for phrase in phrases(found)]
    assert "erneuerbare energien" in folded
    assert "klimawandel" in folded
    assert len(found) == 10
    assert len(set(folded)) == len(folded)
    scores = [keyphrase.score for keyphrase in found]
    assert scores == sorted(scores, reverse=True)
    assert all(score > 0 for score in scores)
    # Phrases come back as written in the text.
    assert all(keyphrase.phrase in GERMAN_TEXT for keyphrase in found)


def test_max_count_and_window_are_obeyed() -> None:
    model = TopicalPageRank.fit(params(n_topics="4", max_count="3", window="2"), GERMAN_CORPUS)
    found = model.extract(GERMAN_TEXT)
    assert len(found) == 3


def test_topical_bias_changes_the_ranking() -> None:
    """Trained on other topics, the same text ranks differently: the bias is in effect."""
    energy = TopicalPageRank.fit(params(n_topics="3"), GERMAN_CORPUS[:3])
    health = TopicalPageRank.fit(params(n_topics="3"), GERMAN_CORPUS[3:6])
    assert energy.extract(GERMAN_TEXT) != health.extract(GERMAN_TEXT)


@pytest.mark.parametrize("normalization", ["lowercase", "stemming"])
def test_normalisation_merges_word_forms(normalization: str) -> None:
    model = TopicalPageRank.fit(params(n_topics="5", normalization=normalization), GERMAN_CORPUS)
    found = phrases(model.extract(GERMAN_TEXT))
    # "Erneuerbare Energien" and "erneuerbare Energien" are one candidate, shown as first written.
    assert "Erneuerbare Energien" in found
    assert "erneuerbare Energien" not in found


def test_documents_without_candidates(german_model: TopicalPageRank) -> None:
    assert german_model.extract("") == []
    assert german_model.extract("Und dann ging es schnell. 2024 !") == []


def test_save_and_load_give_identical_keyphrases(
    german_model: TopicalPageRank, tmp_path: Path
) -> None:
    german_model.save(tmp_path / "model")
    saved = sorted(path.name for path in (tmp_path / "model").iterdir())
    assert saved == ["lexicon.json", "params.json", "topics.npz", "vocabulary.json"]
    written = json.loads((tmp_path / "model" / "params.json").read_text(encoding="utf-8"))
    assert written == {**SEED_PARAMS, "n_topics": "8"}
    with np.load(tmp_path / "model" / "topics.npz", allow_pickle=False) as arrays:
        assert arrays["topic_word"].shape[0] == 8
    loaded = TopicalPageRank.load(tmp_path / "model")
    assert loaded.params == german_model.params
    assert loaded.lexicon == german_model.lexicon
    for text in [GERMAN_TEXT, *GERMAN_CORPUS[:4]]:
        assert loaded.extract(text) == german_model.extract(text)


def test_loading_a_broken_model_fails_cleanly(
    german_model: TopicalPageRank, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    with pytest.raises(KeyphraseModelCorrupt, match="params.json"):
        TopicalPageRank.load(folder)
    german_model.save(folder)
    vocabulary = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
    (folder / "vocabulary.json").write_text(json.dumps(vocabulary[:-1]), encoding="utf-8")
    with pytest.raises(KeyphraseModelCorrupt, match="word columns") as caught:
        TopicalPageRank.load(folder)
    assert isinstance(caught.value, ModelLoadFailed)
    german_model.save(folder)
    (folder / "params.json").write_text(json.dumps({**SEED_PARAMS, "n_topics": "9"}))
    with pytest.raises(KeyphraseModelCorrupt, match="9"):
        TopicalPageRank.load(folder)
    (folder / "params.json").write_text(json.dumps({**SEED_PARAMS, "window": "wide"}))
    with pytest.raises(KeyphraseModelCorrupt, match="params.json: window"):
        TopicalPageRank.load(folder)
    (folder / "params.json").write_text(json.dumps(SEED_PARAMS))
    (folder / "topics.npz").write_bytes(b"not an npz")
    with pytest.raises(KeyphraseModelCorrupt, match="topic model"):
        TopicalPageRank.load(folder)


def test_the_lexicon_holds_training_words_hanta_does_not_know(
    german_model: TopicalPageRank,
) -> None:
    # "Trockenperioden" is in no HanTa lexicon: it was analysed while training.
    analyses = german_model.lexicon["trockenperioden"]
    assert analyses[0][0] == "NN"
    assert "energien" not in german_model.lexicon  # HanTa's lexicon has it
    fresh = SentenceTagger("de")
    fresh.learn(german_model.lexicon)
    sentence = ["Die", "langen", "Trockenperioden", "schaden", "der", "Landwirtschaft", "."]
    assert fresh.tag(sentence) == tagger_for("de").tag(sentence)
    assert fresh.tag(sentence)[2] == "NOUN"


def test_a_lexicon_of_another_hanta_version_is_ignored(
    german_model: TopicalPageRank, tmp_path: Path
) -> None:
    german_model.save(tmp_path)
    lexicon = json.loads((tmp_path / "lexicon.json").read_text(encoding="utf-8"))
    (tmp_path / "lexicon.json").write_text(json.dumps({**lexicon, "hanta": "0.1"}))
    loaded = TopicalPageRank.load(tmp_path)
    assert loaded.lexicon == {}
    assert loaded.extract(GERMAN_TEXT) == german_model.extract(GERMAN_TEXT)
    (tmp_path / "lexicon.json").write_text(
        json.dumps({**lexicon, "words": {"xyz": [["NO-SUCH-TAG", -1.0]]}})
    )
    with pytest.raises(KeyphraseModelCorrupt, match="NO-SUCH-TAG"):
        TopicalPageRank.load(tmp_path)
    (tmp_path / "lexicon.json").write_text("[]")
    with pytest.raises(KeyphraseModelCorrupt, match="lexicon.json"):
        TopicalPageRank.load(tmp_path)


def test_english_keyphrases() -> None:
    model = TopicalPageRank.fit(
        params(language="en", n_topics="4", normalization="lowercase"), ENGLISH_CORPUS
    )
    found = [phrase.casefold() for phrase in phrases(model.extract(ENGLISH_TEXT))]
    assert "renewable energy" in found
    assert "solar panels" in found
    assert "private households" in found


def test_training_needs_nouns() -> None:
    with pytest.raises(InvalidTrainingData):
        TopicalPageRank.fit(params(n_topics="2"), ["und oder aber", "ist sind war"])


# --- training documents -------------------------------------------------------------------


def test_training_texts_from_the_fact_check_csv(tmp_path: Path) -> None:
    path = tmp_path / "factchecks_de.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "date", "claim", "verdict", "article", "topic"])
        writer.writerow(["1", "2024-01-02", "Windräder töten Vögel.", "falsch", "Der Text.", "x"])
        writer.writerow(["2", "2024-01-03", "", "falsch", "Nur ein Artikel.", "x"])
        writer.writerow(["3", "2024-01-04", "", "falsch", "", "x"])
    assert read_training_texts(path) == ["Windräder töten Vögel.\n\nDer Text.", "Nur ein Artikel."]


def test_training_texts_from_a_text_column(tmp_path: Path) -> None:
    path = tmp_path / "docs.csv"
    path.write_text('text,label\n"Ein Satz, mit Komma.",a\n', encoding="utf-8")
    assert read_training_texts(path) == ["Ein Satz, mit Komma."]


def test_training_csv_without_text_columns(tmp_path: Path) -> None:
    path = tmp_path / "docs.csv"
    path.write_text("id,body\n1,Hallo\n", encoding="utf-8")
    with pytest.raises(InvalidTrainingData, match="claim\\+article or text.*id, body"):
        read_training_texts(path)
    with pytest.raises(InvalidTrainingData, match="cannot read"):
        read_training_texts(tmp_path / "missing.csv")
