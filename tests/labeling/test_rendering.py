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


def test_a_candidate_is_rendered_once_when_stored_and_again_when_its_text_is_corrected(project):
    from labeling.models import Candidate
    from tests.conftest import add_ready_prompt

    prompt = add_ready_prompt(project, candidates=["**bold**", "`code`", "<script>x</script>", "plain"])
    stored = {c.text: c.html for c in Candidate.objects.filter(prompt=prompt)}
    assert stored == {text: render_markdown(text) for text in stored}
    assert stored["**bold**"] == "<p><strong>bold</strong></p>\n"
    candidate = Candidate.objects.get(prompt=prompt, text="plain")
    candidate.text = "*corrected*"
    candidate.save(update_fields=["text"])  # as the admin saves it
    assert Candidate.objects.get(pk=candidate.pk).html == "<p><em>corrected</em></p>\n"


def test_a_task_serves_the_stored_html(labeler, project):
    from labeling.models import Candidate
    from tests.conftest import add_ready_prompt, client_for

    prompt = add_ready_prompt(project, candidates=["# one", "two", "three", "four"])
    # Whatever is stored is what labelers get: the request renders nothing.
    Candidate.objects.filter(prompt=prompt, index=1).update(html="<p>stored</p>")
    task = client_for(labeler).post(f"/api/projects/{project.pk}/next/", {"kind": "rank"}, format="json").json()
    html = {c["text"]: c["html"] for c in task["candidates"]}
    assert html == {"# one": "<h1>one</h1>\n", "two": "<p>stored</p>", "three": "<p>three</p>\n",
                    "four": "<p>four</p>\n"}
