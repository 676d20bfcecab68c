"""A short schemathesis pass over the OpenAPI schema, as an anonymous user, a labeler and an admin: no
generated request (valid or not) may give a server error, and no labeler response may carry generator
settings. It runs in CI, so a new endpoint cannot bring a 500 back. bench/abuse.py runs the long pass."""
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

from tests.conftest import add_ready_prompt

SECRET = "sk-fuzz-secret-key-000"
# Words only generator settings use; a labeler response containing one leaks them.
SECRET_MARKERS = (SECRET, '"generation"', "api_key", "base_url")

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
# Random valid and invalid requests only: the coverage phase's hundreds of boundary cases per operation are
# bench/abuse.py's job, too slow for every CI run.
schema.config.phases.coverage.enabled = False


@pytest.fixture
def in_test_transaction():
    """Requests go through the real WSGI handler, which closes the database connection after each one; as in
    Django's test client, keep it open so that the test's transaction (and its data) lives on."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(db, in_test_transaction, project, labeler, admin_user):
    project.generation = {"backend": "openai", "base_url": "https://llm.example/v1", "model": "m", "api_key": SECRET}
    project.save()
    add_ready_prompt(project)
    return {"anonymous": None, "labeler": Token.objects.create(user=labeler).key,
            "admin": Token.objects.create(user=admin_user).key}


@pytest.mark.parametrize("role", ["anonymous", "labeler", "admin"])
@schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_no_request_gives_a_server_error(case, role, tokens):
    headers = {"Authorization": f"Token {tokens[role]}"} if tokens[role] else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, case.as_curl_command()
    if role == "labeler" and case.path != "/api/schema/":  # the schema describes fields, it holds no values
        assert not any(marker in response.text for marker in SECRET_MARKERS), case.as_curl_command()
