"""Personal data masking and the long-common-prefix key, on hand-made cases."""
import pytest

from intake.filters import COMMON_PREFIX_CHARS, dedup_key, mask_messages, mask_personal_data


@pytest.mark.parametrize("text, masked, kinds", [
    ("Mail me at jane.doe+work@example.co.uk today", "Mail me at [EMAIL] today", ["EMAIL"]),
    ("Call +44 20 7946 0958 or (555) 123-4567.", "Call [PHONE] or [PHONE].", ["PHONE"]),
    ("My card is 4111 1111 1111 1111", "My card is [CARD]", ["CARD"]),
    ("SSN 123-45-6789, server 192.168.1.20", "SSN [SSN], server [IP]", ["SSN", "IP"]),
    ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN] please", ["IBAN"]),
    ("clone https://bob:hunter2@git.example.com/x", "clone https://[CREDENTIALS]@git.example.com/x", ["CREDENTIALS"]),
    ("In 2024 it cost 1,250.50 euros; version 3.11.7", "In 2024 it cost 1,250.50 euros; version 3.11.7", []),
])
def test_it_masks_personal_data_and_leaves_ordinary_numbers(text, masked, kinds):
    assert mask_personal_data(text) == (masked, kinds)


def test_masking_keeps_roles_and_reports_each_kind_once():
    messages, kinds = mask_messages([{"role": "system", "content": "a@b.io"},
                                     {"role": "user", "content": "c@d.io and 555 123 4567"}])
    assert messages == [{"role": "system", "content": "[EMAIL]"}, {"role": "user", "content": "[EMAIL] and [PHONE]"}]
    assert kinds == ["EMAIL", "PHONE"]


def test_prompts_sharing_a_long_prefix_share_a_key_and_short_ones_only_when_equal():
    long = "Write a detailed, friendly product description for a stainless steel water bottle that keeps drinks"
    assert len(long) > COMMON_PREFIX_CHARS
    assert dedup_key(long + " cold.") == dedup_key(long.upper() + "   hot!!") == dedup_key(long)
    assert dedup_key("Tell me a joke") == dedup_key("tell me a   JOKE!")
    assert dedup_key("Tell me a joke") != dedup_key("Tell me a joke about cats")
    assert dedup_key("Different start " + long) != dedup_key(long)
