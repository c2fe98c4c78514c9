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
    assert "SEARCH" not in user and "without those marker lines" in " ".join(user.split())


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


def test_every_objective_is_named_with_its_direction_and_each_programs_value():
    objectives = [("rubric_score", True), ("doc_chars", False), ("complexity", False)]
    parent = Shown(CODE, 0.5, {"rubric_score": 0.5, "doc_chars": 120, "format_score": 1.0})
    insp = [Shown(CODE.replace("1", "2"), 0.75, {"rubric_score": 0.75, "doc_chars": 300}),
            Shown(CODE.replace("1", "3"), 0.25, {"rubric_score": 0.25})]  # no doc_chars: shown as n/a
    second = Shown(CODE.replace("1", "4"), 0.9, {"rubric_score": 0.9, "doc_chars": 80})
    user = build_messages(description="Write a docstring.", objective="rubric_score", direction="maximize",
                          language="python", parent=parent, inspirations=insp, mode="rewrite", n_blocks=1,
                          config=PromptConfig(), second_parent=second, objectives=objectives)[1]["content"]
    section = user.split("# Objectives\n")[1].split("\n\n")[0]
    assert "- maximise `rubric_score`" in section and "- minimise `doc_chars`" in section
    assert "- minimise `complexity` (the length of the code in characters)" in section
    assert "main objective, which decides the best program, is to maximise `rubric_score`" in section
    n = len(CODE)
    assert f"# Current program (rubric_score = 0.5; doc_chars = 120; complexity = {n}; metrics: " in user
    assert f"# Inspiration 1 (rubric_score = 0.75; doc_chars = 300; complexity = {n})" in user
    assert f"# Inspiration 2 (rubric_score = 0.25; doc_chars = n/a; complexity = {n})" in user
    assert f"# Second parent (rubric_score = 0.9; doc_chars = 80; complexity = {n})" in user
    assert "# Objective\n" not in user


def test_objectives_without_the_main_metric_and_score_alias():
    # `score` names the problem's objective; a main objective outside the list is still shown first
    user = build_messages(description="", objective="combined_score", direction="minimize", language="python",
                          parent=Shown(CODE, 3.0, {"combined_score": 3.0, "runtime": 0.5}),
                          inspirations=[Shown(CODE, 2.0, {"combined_score": 2.0, "runtime": 0.7})], mode="diff",
                          n_blocks=1, config=PromptConfig(),
                          objectives=[("score", False), ("runtime", False)])[1]["content"]
    section = user.split("# Objectives\n")[1].split("\n\n")[0]
    assert section.count("`combined_score`") == 2 and "- minimise `runtime`" in section and "`score`" not in section
    assert "# Current program (combined_score = 3; runtime = 0.5; metrics:" in user
    assert "# Inspiration 1 (combined_score = 2; runtime = 0.7)" in user
    # a single objective (no search.objectives): the prompt is as before
    assert "# Objective\nmaximise the metric `combined_score`." in _msgs("diff")[1]["content"]


def test_declared_packages_are_the_only_ones_offered():
    user = _msgs("rewrite", packages=["numpy", "scipy"])[1]["content"]
    env = user[user.index("# Environment"):].split("\n\n")[0]
    assert "only these packages: numpy, scipy" in env and "Nothing else can be imported" in env
    assert "packages" not in _msgs("rewrite", packages=[])[1]["content"].split("# Environment")[1].split("\n\n")[0]
    assert "# Environment" not in _msgs("rewrite")[1]["content"], "problems that declare nothing get no claim"
