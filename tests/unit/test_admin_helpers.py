"""The small judgements around admin commands: a field to suggest, the closest source name,
and the role psql starts as (never with the password on its command line)."""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict

from fmw.backup.pg_tools import libpq_target
from fmw.psql import _with_role
from fmw.sources import closest
from fmw.vocabulary import suggest_field

ALIASES = {"상태": "status", "국가": "region", "기능명": "feature_name", "기능코드": "feature_code"}


def test_a_suggestion_is_the_field_of_the_most_similar_alias():
    assert suggest_field("상태값", ALIASES) == ("status", "상태")
    assert suggest_field("국가코드", ALIASES) == ("region", "국가")
    assert suggest_field("OS", ALIASES) is None, "nothing alike: no guess"


def test_a_suggestion_skips_the_fields_the_file_maps_already():
    assert suggest_field("기능 이름", ALIASES, taken=["feature_code"]) == ("feature_name", "기능명")
    assert suggest_field("상태값", ALIASES, taken=["status"]) is None


def test_the_closest_source_name_catches_typos_only():
    names = ["ops_team", "platform_team", "service_team"]
    assert closest("platfrom_team", names) == "platform_team"
    assert closest("billing", names) is None


def test_psql_starts_as_the_role_and_read_only_when_asked():
    owner = conninfo_to_dict(_with_role("host=/tmp dbname=fmw user=admin", "fmw_owner", False))
    reader = conninfo_to_dict(
        _with_role("host=/tmp dbname=fmw options='-c work_mem=64MB'", "fmw_reader", True)
    )
    assert owner["options"] == "-c role=fmw_owner"
    assert reader["options"] == (
        "-c work_mem=64MB -c role=fmw_reader -c default_transaction_read_only=on"
    )


def test_psql_gets_the_password_in_its_environment_not_its_arguments():
    conninfo, env = libpq_target(_with_role("postgresql://admin:s3cret@db/fmw", "fmw_owner", False))
    assert "s3cret" not in conninfo and env == {"PGPASSWORD": "s3cret"}
    assert conninfo_to_dict(conninfo)["options"] == "-c role=fmw_owner"
