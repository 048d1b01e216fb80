"""The kiosk API fuzzed from its own OpenAPI document (docs/openapi.json) with schemathesis over 127.0.0.1:
whatever a client sends — with a valid token, a wrong one or none — the server never answers 5xx, and every
answer it gives matches the document."""

import itertools
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from townhall_helpers import Clock, enrol, running_server

from townhall import services
from townhall.services import Citizen

ROOT = Path(__file__).resolve().parent.parent
schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi.json")
_turn = itertools.count()


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("fuzz"), Clock(), requests_per_minute=100_000,
                        burst=100_000) as (th, url):
        kiosk = enrol(th, url, "fuzz-1")
        for product in ("vouchers", "room-key"):
            services.create_reservation(th, kiosk_id="fuzz-1", product=product, citizen=Citizen("Fuzz"))
        yield url, kiosk.headers["Authorization"]


@schema.parametrize()
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_never_fails_and_answers_as_documented(case, fuzz_server):
    url, authorization = fuzz_server
    turn = next(_turn) % 3  # a valid token, a wrong one, or whatever the case itself carries
    headers = {0: {"Authorization": authorization}, 1: {"Authorization": "Bearer " + "w" * 43}, 2: {}}[turn]
    case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error, response_schema_conformance])
