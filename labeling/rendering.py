"""Model and labeler text as the work page shows it: Markdown with fenced code highlighted by Pygments,
rendered on the server and sanitized by nh3, so the page inserts HTML it can trust.

Raw HTML in the text is shown as text, never interpreted (a response that explains `<script>` shows it).
Rendering a long response with code costs milliseconds and every next-task response carries K of them,
so each text is rendered once per process and then served from the cache.
"""
import functools

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# Pygments marks tokens with short classes (`k`, `s2`, ...) that static/labeling/code.css colours; nh3 keeps
# `class` on these tags only, and nothing else beyond its defaults.
_ATTRIBUTES = {
    "span": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "div": {"class"},
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
}
_FORMATTER = HtmlFormatter(nowrap=True)


def _highlight(code, language, _attrs):
    """Fenced code with a language Pygments knows is highlighted; other code falls back to markdown-it's
    escaped <pre><code> (an empty return)."""
    if not language:
        return ""
    try:
        lexer = get_lexer_by_name(language.split()[0])
    except ClassNotFound:
        return ""
    return f'<pre class="highlight"><code class="language-{lexer.aliases[0]}">' \
           f"{highlight(code, lexer, _FORMATTER)}</code></pre>"


_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"])


@functools.lru_cache(maxsize=2048)
def render_markdown(text):
    """Sanitized HTML for one Markdown text (a candidate, a prompt message)."""
    return nh3.clean(_MARKDOWN.render(text), attributes=_ATTRIBUTES, link_rel="noopener noreferrer nofollow")
