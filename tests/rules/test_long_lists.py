"""A center's whole forbidden-word list (10,000 phrases) as a forbid category: the rule still
finds the one phrase said, misheard, and nothing else, as it did before the list's index
(speech/phrase_index.py), in a fraction of the time (bench/phrase_scale.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from callaudit.rules.pack import load
from callaudit.speech import phrase_index
from callaudit.speech.match import Stream, find
from callaudit.speech.phrase_index import index_of
from tests.helpers import bench
from tests.helpers.transcripts import BASE, DEFAULT_PACK, audit, replace, utterances, verdict

scale = bench("phrase_scale")
PLANTED = "这事不归我管"
HEARD = "好的，这事不规我管。"  # 归 gui heard as 规 gui


def _list_for(turns: list, n: int = 10_000) -> list[str]:
    """`n` generated phrases, none of them found in what the agent says in `turns` (their
    utterances alone and in pairs, as the forbid check reads them) but PLANTED, which sits
    in the middle."""
    words = scale.phrases(n + 500, avoid=set(scale.default_phrases(DEFAULT_PACK)) | {PLANTED})
    agent = [u for u in utterances(turns) if u.role == "agent"]
    threshold = DEFAULT_PACK.settings.forbid_threshold
    said: set[str] = set()
    for i in range(len(agent)):
        for s in (Stream.of(agent[i:i + 1]), Stream.of(agent[i:i + 2])):
            said |= {p for p in index_of(words).candidates(s, threshold) if find(s, p, threshold)}
    words = [w for w in words if w not in said][:n - 1]
    return words[:n // 2] + [PLANTED] + words[n // 2:]


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, list[str]]:
    words = _list_for(replace(BASE, 4, HEARD))
    assert len(words) == 10_000
    path = Path(tmp_path_factory.mktemp("pack")) / "center.yaml"
    path.write_text(yaml.safe_dump({"rules": [{
        "id": "center_list", "section": "communication", "severity": "major", "deduction": 5,
        "check": "forbid", "who": "agent", "categories": {"center": words},
        "message": {"zh": "使用了中心禁语", "en": "Said a phrase of the center's list"}}]},
        allow_unicode=True), encoding="utf-8")
    return load(str(path)), words


def test_ten_thousand_phrases_find_the_one_said_and_nothing_else(center: tuple) -> None:
    pack, words = center
    call = replace(BASE, 4, HEARD)
    assert verdict(audit(BASE, pack=pack)[0]["center_list"]) == "pass"  # (builds the index)
    f, _, _ = audit(call, pack=pack)
    rule = f["center_list"]
    assert verdict(rule) == "fail" and rule.detail_args == {"phrases": PLANTED}
    assert [(e.text, e.match, e.category) for e in rule.evidence] == [(HEARD, "这事不规我管", "center")]
    # the default pack's own verdicts do not change with the list beside them
    plain, _, _ = audit(call)
    assert {k: (v.applicable, v.passed, v.deduction) for k, v in f.items() if k != "center_list"} == \
        {k: (v.applicable, v.passed, v.deduction) for k, v in plain.items()}
    # the same findings as every phrase matched one by one, as before the index
    with phrase_index.disabled():
        whole, _, _ = audit(call, pack=pack)
    assert whole == f
    # and it was the index that judged: under a tenth of the 10,000 phrases are tried
    # (what that saves is measured in bench/phrase_scale.py, not here)
    assert len(phrase_index.shortlist(Stream.of(utterances(call)), words, 0.8)) < len(words) / 10


def test_the_list_added_to_a_default_rule(tmp_path: Path, center: tuple) -> None:
    """The same list as a new category of forbidden_phrase (`extra_categories`): the rule's
    `allow` and `unless` still apply to it."""
    _, words = center
    path = tmp_path / "extra.yaml"
    path.write_text(yaml.safe_dump({"rules": [{"id": "forbidden_phrase",
                                               "extra_categories": {"center": words}}]},
                                   allow_unicode=True), encoding="utf-8")
    pack = load(str(path))
    f = audit(replace(BASE, 4, HEARD), pack=pack)[0]["forbidden_phrase"]
    assert verdict(f) == "fail" and [e.category for e in f.evidence] == ["center"]
    assert verdict(audit(BASE, pack=pack)[0]["forbidden_phrase"]) == "pass"
