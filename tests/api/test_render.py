"""Answers rendered for the web: Markdown becomes HTML; markup inside the text stays text."""

from __future__ import annotations

from api.render import answer_html, close_tables


def test_a_knowledge_passage_with_script_or_onerror_is_escaped_not_rendered():
    passage = ('From the playbook:\n> quote verbatim <script>alert(1)</script> and '
               '<img src=x onerror="alert(2)"> <a href="javascript:alert(3)">x</a>')
    html = answer_html(passage)
    assert "<script" not in html and "<img" not in html and "<a href=\"javascript" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert "&lt;img src=x onerror=" in html


def test_tables_bold_lists_and_safe_links_render():
    html = answer_html("**赢单率**:38.5%\n| 团队 | 赢单率 |\n|---|---|\n| 华东一组 | 38.5% |\n差距最大: 打断次数\n"
                       "- 第一\n- 第二\n\n[手册](https://example.com/p) [坏](javascript:alert(1))")
    assert "<strong>赢单率</strong>" in html
    assert "<th>团队</th>" in html and "<td>38.5%</td>" in html
    assert "<td>差距最大" not in html  # the line after the table is not swallowed as a row
    assert "<li>第一</li>" in html
    assert '<a href="https://example.com/p" rel="noopener noreferrer">手册</a>' in html
    assert 'href="javascript' not in html


def test_close_tables_only_adds_a_blank_line_after_a_table():
    assert close_tables("a\n| x |\n|---|\n| 1 |\nb") == "a\n| x |\n|---|\n| 1 |\n\nb"
    assert close_tables("no table\nhere") == "no table\nhere"
