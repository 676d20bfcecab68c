"""Markdown as the work page shows it: rendered, code highlighted, anything script-like gone."""
from labeling.rendering import render_markdown


def test_markdown_lists_emphasis_and_tables_are_rendered():
    html = render_markdown("- one\n- **two**\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<li><strong>two</strong></li>" in html
    assert "<td>1</td>" in html


def test_fenced_code_is_highlighted_by_language_and_escaped():
    html = render_markdown("```python\ndef f():\n    return '<b>'\n```")
    assert '<pre class="highlight"><code class="language-python"><span class="k">def</span>' in html
    assert "&lt;b&gt;" in html and "<b>" not in html
    plain = render_markdown("```nosuchlanguage\n<i>x</i>\n```")
    assert "<pre><code" in plain and "&lt;i&gt;x&lt;/i&gt;" in plain


def test_raw_html_is_shown_as_text_and_script_links_are_dropped():
    html = render_markdown('<script>alert(1)</script><img src=x onerror="alert(1)"> [x](javascript:alert(1))')
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x" in html
    assert 'href="javascript' not in html
    assert '<a href="https://example.com" rel="noopener noreferrer nofollow">y</a>' in render_markdown(
        "[y](https://example.com)")
