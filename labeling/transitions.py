"""The one way a row with a state machine changes state.

Each machine (a prompt, a task, a training run, an export job) declares its allowed moves as a table,
`{old state: {new states}}`, next to its model. `StateMachine.move()` checks a move against the table and
makes it with a conditional `UPDATE ... WHERE pk = ... AND state = old`: when another process moved the
row first, no row changes and `move()` returns False, so the caller acts on what really happened
instead of overwriting it. A move the table forbids is a bug in the caller and raises InvalidTransition.
"""


class InvalidTransition(Exception):
    pass


class StateMachine:
    def __init__(self, name, field, table):
        self.name = name
        self.field = field
        self.table = {old: frozenset(new) for old, new in table.items()}

    def allows(self, old, new):
        return new in self.table[old]

    def check(self, old, new):
        if not self.allows(old, new):
            raise InvalidTransition(f"{self.name}: {old} -> {new} is not allowed")

    def move(self, obj, new, **fields):
        """Move `obj` from the state it was read in to `new`, setting `fields` in the same UPDATE.

        Returns True when the row moved (and `obj` now reflects the new values), False when the row was
        no longer in the state `obj` was read in."""
        old = getattr(obj, self.field)
        self.check(old, new)
        changed = type(obj)._default_manager.filter(pk=obj.pk, **{self.field: old}).update(
            **{self.field: new}, **fields)
        if changed != 1:
            return False
        setattr(obj, self.field, new)
        for name, value in fields.items():
            setattr(obj, name, value)
        return True

    def move_all(self, queryset, old_states, new, **fields):
        """Move every row of `queryset` that is in one of `old_states` to `new`; returns how many moved."""
        for old in old_states:
            self.check(old, new)
        return queryset.filter(**{f"{self.field}__in": list(old_states)}).update(**{self.field: new}, **fields)
