"""Seed a demo project with logins, so `make run` shows a working platform at once.

The prompts and candidate responses below were written for Rankwise's demo; candidates vary in
quality on purpose, so that ranking them is a real choice."""
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction

from labeling import workflow
from labeling.models import Project, PromptKind
from labeling.roles import ADMIN_GROUP, LABELER_GROUP

DEMO_LOGINS = [
    ("admin", "rankwise-admin", ADMIN_GROUP),
    ("alice", "rankwise-labeler", LABELER_GROUP),
    ("bob", "rankwise-labeler", LABELER_GROUP),
]

GUIDELINES = """\
# Demo guidelines

Rank responses by how **helpful, honest and harmless** they are, in that order of importance
when they conflict.

- A response that follows the instruction beats one that ignores it, however well written.
- Made-up facts are worse than a short answer that admits uncertainty.
- Ties are fine when two responses are equally good or equally bad.
"""

RANKED = [
    ("Explain in two sentences why the sky is blue.", [
        "Sunlight scatters off air molecules, and shorter blue wavelengths scatter much more than red ones "
        "(Rayleigh scattering). So when you look away from the sun, the light reaching your eyes is mostly blue.",
        "The sky is blue because it reflects the ocean.",
        "Because of physics. Light does things in the atmosphere and blue is what we see, which is why the sky "
        "looks blue most days except at sunset and when it is cloudy or at night when it is dark.",
        "Air scatters blue light more than red light. That scattered blue light fills the sky.",
    ]),
    ("Write a haiku about a train station at night.", [
        "Empty platform hums / one yellow window passing / the rails keep the cold",
        "Trains are fast at night. Stations are empty and dark. I like trains a lot.",
        "Night station: the clock / counts for nobody; a moth / waits for the last train",
        "A haiku is a Japanese poem with three lines of five, seven and five syllables.",
    ]),
    ("My Python script says 'IndentationError: unexpected indent'. What does that mean?", [
        "A line is indented more than Python expects at that point, usually a stray space or tab at the start "
        "of a line, or mixing tabs and spaces. Check the line in the message and align it with the block it "
        "belongs to.",
        "It means your computer has a virus in the Python folder. Reinstall Windows.",
        "Python uses indentation to group code. The error says a line starts further right than the block "
        "around it allows. Remove the extra spaces, and set your editor to insert 4 spaces per tab.",
        "Indentation errors happen.",
    ]),
    ("Give me three ideas for a rainy Saturday with two kids aged 6 and 9.", [
        "1. Build a blanket fort and read stories inside it with torches. 2. Bake and decorate biscuits. "
        "3. Put on a puppet show with socks, then perform it for a grown-up.",
        "Watch TV all day.",
        "You could go to an indoor pool, a library, or a museum with a children's section; at home, a treasure "
        "hunt with clues written by the older child for the younger one works well.",
        "Rainy days are a great opportunity for family bonding and creativity.",
    ]),
    ("Summarise: 'The council voted 7-2 to extend library hours to 9pm on weekdays from March, funded by "
     "closing one underused branch.'", [
        "From March, libraries will open until 9pm on weekdays, paid for by closing an underused branch; the "
        "council approved it 7-2.",
        "The council closed all libraries.",
        "Library hours are being extended after a council vote.",
        "The council voted 7-2 in favour of a plan. Libraries. March. 9pm.",
    ]),
    ("Translate 'Where is the nearest pharmacy?' into French and Spanish.", [
        "French: « Où est la pharmacie la plus proche ? » Spanish: «¿Dónde está la farmacia más cercana?»",
        "French: Où est la pharmacie? Spanish: Donde farmacia?",
        "I can't translate text.",
        "French: « Où se trouve la pharmacie la plus proche ? » Spanish: «¿Dónde queda la farmacia más "
        "cercana?»",
    ]),
]

AWAITING_DEMONSTRATION = [
    "Write a polite email to a neighbour asking them to move their bins off the shared path.",
    "What should I check before buying a used bicycle?",
    "Explain what a reward model is to someone who has never trained a neural network.",
]


class Command(BaseCommand):
    help = "Create the demo project, its prompts and candidates, and the demo logins (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        for username, password, group in DEMO_LOGINS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = group == ADMIN_GROUP
                user.save()
            user.groups.add(Group.objects.get(name=group))
        project, created = Project.objects.get_or_create(
            name="Demo: helpful assistant",
            defaults={"guidelines": GUIDELINES, "k": 4, "overlap": 2,
                      "use_cases": ["Brainstorming", "Summarisation", "Closed QA", "Rewrite", "Classification"]},
        )
        if created:
            for text, candidates in RANKED:
                workflow.create_prompt(project, messages=[{"role": "user", "content": text}], kind=PromptKind.PLAIN,
                                       candidates=candidates, model_name="written for the demo")
            for text in AWAITING_DEMONSTRATION:
                workflow.create_prompt(project, messages=[{"role": "user", "content": text}])
        self.stdout.write("Demo logins: " + ", ".join(f"{u} / {p} ({g})" for u, p, g in DEMO_LOGINS))
