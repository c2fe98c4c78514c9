"""The edit stage: messy replies applied inside EVOLVE blocks only."""
import pytest

from evoforge.blocks import BlockError, find_blocks, outside_text, replace_bodies
from evoforge.edit import apply_reply

P = "import x\n\n# EVOLVE-BLOCK-START\ndef f(a):\n    if a:\n        return 1\n    return 2\n# EVOLVE-BLOCK-END\n\nprint(f(1))\n"


def diff(search, replace):
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"


def test_blocks_found_and_spliced():
    (b,) = find_blocks(P)
    assert b.start == 2 and "return 2" in b.body
    new = replace_bodies(P, ["def f(a):\n    return 0\n"])
    assert outside_text(new) == outside_text(P) and "return 0" in new


@pytest.mark.parametrize("code, msg", [("x = 1\n", "no EVOLVE"), ("# EVOLVE-BLOCK-START\n", "never closed"),
                                       ("# EVOLVE-BLOCK-END\n", "without a matching"),
                                       ("# EVOLVE-BLOCK-START\n# EVOLVE-BLOCK-START\n", "nest")])
def test_bad_markers(code, msg):
    with pytest.raises(BlockError, match=msg):
        find_blocks(code)


def test_diff_in_fence_with_prose():
    out = apply_reply(P, "Idea.\n```\n" + diff("        return 1", "        return 3") + "\n```\nDone.", "diff")
    assert out.error is None and "return 3" in out.code and out.code.endswith("print(f(1))\n")


def test_indentation_drift_is_reindented():
    out = apply_reply(P, diff("if a:\n    return 1", "if a:\n    return 5"), "diff")
    assert "    if a:\n        return 5\n" in out.code


def test_trailing_whitespace_and_crlf_and_marker_counts():
    reply = "<<<<<<<< SEARCH\r\n        return 1   \r\n========\r\n        return 9\r\n>>>>>> REPLACE\r\n"
    assert "return 9" in apply_reply(P, reply, "diff").code


def test_several_blocks_applied_in_order():
    reply = diff("        return 1", "        return 3") + "\n" + diff("    return 2", "    return 4")
    out = apply_reply(P, reply, "diff")
    assert out.n_changes == 2 and "return 3" in out.code and "return 4" in out.code


@pytest.mark.parametrize("reply, error", [
    (diff("print(f(1))", "print(9)"), "outside_blocks"),
    (diff("import x", "import os"), "outside_blocks"),
    (diff("return 42", "return 0"), "search_not_found"),
    (diff("        return 1", "        return 1"), "unchanged"),
    ("no code here at all", "no_edit"),
    ("", "no_edit"),
])
def test_rejections_are_named(reply, error):
    out = apply_reply(P, reply, "diff")
    assert out.code is None and out.error == error and out.detail


def test_rewrite_body_only_and_whole_program():
    assert "return 7" in apply_reply(P, "```python\ndef f(a):\n    return 7\n```", "rewrite").code
    whole = apply_reply(P, "```python\n" + P.replace("return 2", "return 4") + "```", "rewrite")
    assert whole.error is None and "return 4" in whole.code


def test_rewrite_touching_outside_is_rejected():
    out = apply_reply(P, "```python\n" + P.replace("print(f(1))", "print(0)") + "```", "rewrite")
    assert out.error == "outside_blocks" and out.code is None


def test_diff_request_answered_with_a_block_is_accepted():
    assert "return 8" in apply_reply(P, "```python\ndef f(a):\n    return 8\n```", "diff").code


def test_c_program_with_slash_markers():
    c = "#include <x.h>\n// EVOLVE-BLOCK-START\nint f(){return 1;}\n// EVOLVE-BLOCK-END\n"
    out = apply_reply(c, diff("int f(){return 1;}", "int f(){return 2;}"), "auto")
    assert out.code.startswith("#include <x.h>\n") and "return 2" in out.code


def test_rewrite_that_leaves_out_unchanged_outside_code_is_accepted():
    # small models often return the program only up to the end of the last block
    head = P[:P.index("# EVOLVE-BLOCK-END")] + "# EVOLVE-BLOCK-END\n"
    out = apply_reply(P, "```python\n" + head.replace("return 2", "return 5") + "```", "rewrite")
    assert out.error is None and out.code == P.replace("return 2", "return 5")  # the tail is the parent's


def test_code_complete_once_a_fence_closes_that_is_not_a_diff():
    from evoforge.edit import code_complete

    assert not code_complete("I will use best fit.\n```python\ndef f(x):\n    return x\n")  # still open
    assert code_complete("I will use best fit.\n```python\ndef f(x):\n    return x\n```")
    assert not code_complete("```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n")  # more may come
    assert not code_complete("```\n```\n")  # an empty fence is not code


def test_rewrite_with_one_lone_marker_line_is_the_body():
    end_only = apply_reply(P, "```python\ndef f(a):\n    return 5\n# EVOLVE-BLOCK-END\n\nprint(f(1))\n```", "rewrite")
    assert end_only.error is None and "return 5" in end_only.code and outside_text(end_only.code) == outside_text(P)
    start_only = apply_reply(P, "```python\nimport x\n\n# EVOLVE-BLOCK-START\ndef f(a):\n    return 6\n```", "rewrite")
    assert start_only.error is None and "return 6" in start_only.code and start_only.code.count("import x") == 1
    two = apply_reply(P, "```python\n# EVOLVE-BLOCK-END\ndef f(a):\n    return 6\n# EVOLVE-BLOCK-END\n```", "rewrite")
    assert two.error == "bad_blocks"  # two markers that do not pair up: still refused, with the reason


def test_rewrite_that_adds_imports_outside_moves_them_into_the_block():
    whole = P.replace("import x\n", "import x\nfrom math import sqrt\nimport random as rnd\n").replace(
        "return 2", "return sqrt(rnd.random())")
    out = apply_reply(P, "```python\n" + whole + "```", "rewrite")
    assert out.error is None, out.detail
    assert outside_text(out.code) == outside_text(P)  # outside the block: byte-identical
    body = find_blocks(out.code)[0].body
    assert body.startswith("from math import sqrt\nimport random as rnd\ndef f(a):") and "sqrt(rnd.random())" in body
    other = P.replace("print(f(1))", "print(f(2))").replace("return 2", "return 3")
    assert apply_reply(P, "```python\n" + other + "```", "rewrite").error == "outside_blocks"  # not only imports


def test_rewrite_that_closes_its_block_early_keeps_all_of_it():
    reply = ("```python\nimport x\n\n# EVOLVE-BLOCK-START\ndef f(a):\n    return g(a)\n# EVOLVE-BLOCK-END\n\n"
             "def g(a):\n    return 9\n# EVOLVE-BLOCK-END\n\nprint(f(1))\n```")
    out = apply_reply(P, reply, "rewrite")
    assert out.error is None, out.detail
    body = find_blocks(out.code)[0].body
    assert "return g(a)" in body and "def g(a):" in body and out.code.count("EVOLVE-BLOCK-END") == 1


def test_rewrite_that_adds_helpers_after_the_block_moves_them_into_it():
    helper = "\ndef g(a):\n    return a * 3\n"
    whole = P.replace("return 2", "return g(a)").replace("# EVOLVE-BLOCK-END\n", "# EVOLVE-BLOCK-END\n" + helper)
    out = apply_reply(P, "```python\nimport math\n" + whole + "```", "rewrite")
    assert out.error is None, out.detail
    assert outside_text(out.code) == outside_text(P)  # outside the block: byte-identical
    body = find_blocks(out.code)[0].body
    assert body.startswith("import math\ndef f(a):") and body.rstrip().endswith("return a * 3")
    ns: dict = {}
    exec(out.code.replace("import x\n", "").replace("print(f(1))", "result = f(0)"), ns)
    assert ns["result"] == 0
    changed = whole.replace("print(f(1))", "print(f(2))")  # an added helper and a changed line outside
    assert apply_reply(P, "```python\n" + changed + "```", "rewrite").error == "outside_blocks"
    split = whole.replace("print(f(1))", "print(f(1))\nh = 1")  # added code in two places
    assert apply_reply(P, "```python\n" + split + "```", "rewrite").error == "outside_blocks"
    nested = "class C:\n    # EVOLVE-BLOCK-START\n    def f(self):\n        return 1\n    # EVOLVE-BLOCK-END\n"
    moved = nested.replace("return 1", "return g()") + "\ndef g():\n    return 2\n"
    assert apply_reply(nested, "```python\n" + moved + "```", "rewrite").error == "outside_blocks"
