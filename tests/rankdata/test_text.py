import subprocess
import sys

from rankdata.text import PROMPT_END, conversation_text, generation_text, messages_from_prompt_text, prompt_text, scored_text

DIALOGUE = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
            {"role": "user", "content": "a haiku?"}]


def test_a_single_user_message_is_its_bare_text():
    assert conversation_text([{"role": "user", "content": "Name a colour."}]) == "Name a colour."
    assert prompt_text([{"role": "user", "content": "Name a colour."}]) == "Name a colour.\n\n"


def test_a_dialogue_is_one_role_paragraph_per_message():
    assert conversation_text(DIALOGUE) == "User: hi\n\nAssistant: hello\n\nUser: a haiku?"
    assert scored_text(DIALOGUE, "Leaves fall.") == "User: hi\n\nAssistant: hello\n\nUser: a haiku?\n\nLeaves fall."


def test_a_string_prompt_is_text_to_continue_as_it_is():
    hh = "\n\nHuman: hi\n\nAssistant:"
    assert prompt_text(hh) == hh and scored_text(hh, " hello") == hh + " hello"


def test_the_exported_prompt_reads_back_as_the_conversation_that_renders_it_again():
    hh = "\n\nHuman: hi\n\nAssistant:"
    assert prompt_text([{"role": "user", "content": hh}]) == hh  # an imported HH prompt exports as it came
    for content in ["plain", hh, "ends with a blank line\n\n", "a colon:\n\n", "space ", "User: a\n\nAssistant: b\n\nUser: c"]:
        text = prompt_text([{"role": "user", "content": content}])
        assert prompt_text(messages_from_prompt_text(text)) == text
    assert prompt_text(messages_from_prompt_text(prompt_text(DIALOGUE))) == prompt_text(DIALOGUE)


class TemplateTokenizer:
    chat_template = "x"

    def apply_chat_template(self, messages, add_generation_prompt, tokenize):
        assert add_generation_prompt and not tokenize
        return "".join(f"<{m['role']}>{m['content']}" for m in messages) + "<assistant>"


def test_generation_uses_the_chat_template_where_there_is_one_and_the_plain_text_otherwise():
    assert generation_text(TemplateTokenizer(), DIALOGUE) == "<user>hi<assistant>hello<user>a haiku?<assistant>"
    assert generation_text(object(), DIALOGUE) == prompt_text(DIALOGUE)
    assert generation_text(TemplateTokenizer(), "continue this") == "continue this"
    assert PROMPT_END == "\n\n"


def test_importing_rankdata_imports_no_django_and_no_app():
    code = ("import sys, rankdata, rankdata.text, rankdata.comparisons, rankdata.records, rankdata.agreement; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('django', 'labeling', 'rewards', 'exports', 'worker')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
