"""The one plain-text table writer: widths, figures to the right, the rule, a free last column."""

from pmtimer_harness.columns import aligned


def test_each_column_is_as_wide_as_its_widest_cell_two_spaces_apart_with_no_trailing_spaces():
    assert aligned([("guest", "qemu"), ("a.asm", "pass"), ("longer.asm", "fail 1")]) == [
        "guest       qemu",
        "a.asm       pass",
        "longer.asm  fail 1",
    ]


def test_figures_align_right_and_the_rule_is_as_wide_as_each_column():
    assert aligned([("guest", "reads"), ("a.asm", "1,024"), ("b.asm", "7")], right={1}, rule=True) == [
        "guest  reads",
        "-----  -----",
        "a.asm  1,024",
        "b.asm      7",
    ]


def test_a_free_last_column_is_neither_padded_nor_counted_and_its_rule_is_its_heading_s_width():
    assert aligned([("guest", "", "note"), ("a.asm", "agree", "a long note past the heading"),
                    ("b.asm", "skipped", "")], rule=True, free_last=True) == [
        "guest           note",
        "-----  -------  ----",
        "a.asm  agree    a long note past the heading",
        "b.asm  skipped",
    ]
