"""REST framework plumbing shared by every API view: how bodies are parsed and lists paged, so that
no request, however odd, gets past them as a server error."""
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser

# PostgreSQL's bigint: a larger OFFSET or LIMIT is an error in the database, not an empty page.
MAX_OFFSET = 2**63 - 1
MAX_PAGE_SIZE = 500


class BoundedJSONParser(JSONParser):
    """JSON nested past Python's recursion limit raises RecursionError, not ValueError: still a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None


class StrictLimitOffsetPagination(LimitOffsetPagination):
    """limit and offset as DRF has them, but a value that is not a whole number in range is a 400 naming
    the parameter instead of being ignored (or, past a bigint, a database error)."""

    max_limit = MAX_PAGE_SIZE

    def _parameter(self, request, name, minimum, maximum, default):
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ValidationError({name: f"must be a whole number, got {raw[:40]!r}"}) from None
        if not minimum <= value <= maximum:
            raise ValidationError({name: f"must be from {minimum} to {maximum}"})
        return value

    def get_limit(self, request):
        return self._parameter(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request):
        return self._parameter(request, self.offset_query_param, 0, MAX_OFFSET, 0)
