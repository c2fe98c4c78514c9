from evoforge.config import PromptConfig
from evoforge.prompt import Shown, build_messages, feedback_of, truncate_middle

CODE = "# EVOLVE-BLOCK-START\nx = 1\n# EVOLVE-BLOCK-END\n"


def _msgs(mode, **kw):
    return build_messages(description="Make x big.", objective="combined_score", direction="maximize",
                          language="python", parent=Shown(CODE, 1.0, {"combined_score": 1.0}, "stderr: hi"),
                          inspirations=[Shown(CODE.replace("1", "2"), 2.0, {})], mode=mode, n_blocks=1,
                          config=PromptConfig(), **kw)


def test_diff_prompt_contains_parent_first_and_format():
    user = _msgs("diff")[1]["content"]
    assert user.index("x = 1") < user.index("x = 2"), "the parent must be the first program shown"
    assert "<<<<<<< SEARCH" in user and "maximise" in user and "stderr: hi" in user
    assert "Inspiration 1 (combined_score = 2)" in user


def test_rewrite_prompt_asks_for_block_only():
    user = _msgs("rewrite")[1]["content"]
    assert "SEARCH" not in user and "without those marker lines" in user


def test_system_message_override():
    cfg = PromptConfig(system_message="Be terse.")
    msgs = build_messages(description="", objective="s", direction="minimize", language="c",
                          parent=Shown(CODE, None, {}, valid=False), inspirations=[], mode="diff",
                          n_blocks=1, config=cfg)
    assert msgs[0]["content"] == "Be terse." and "INVALID" in msgs[1]["content"] and "minimise" in msgs[1]["content"]


def test_truncate_middle_keeps_both_ends():
    text = "HEAD" + "x" * 5000 + "TAIL"
    out = truncate_middle(text, 200)
    assert out.startswith("HEAD") and out.endswith("TAIL") and len(out) < 260


def test_feedback_includes_error_and_artifacts():
    fb = feedback_of("out", "Traceback: boom", "exception: boom", {"note": "close"}, 500)
    assert "boom" in fb and "close" in fb and "out" in fb
