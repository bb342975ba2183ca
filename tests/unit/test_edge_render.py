"""fmw.edge.config: settings checked and rendered as nginx files (nginx runs in the nginx tests)."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from fmw.edge import config as edge
from fmw.errors import EdgeError
from fmw.settings import Settings


@pytest.fixture(autouse=True)
def _no_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no fmw.toml of the developer's can leak in


def settings(tmp_path: Path, ports: list[int] | None = None, **edge_values: Any) -> Settings:
    values: dict[str, Any] = {
        "listen": ["127.0.0.1:18080"],
        "users": {"tester": "127.0.0.1", "lab": ["10.1.2.0/24", "10.9.9.9"]},
        "admins": {"ops": "127.0.0.3"},
    }
    values.update(edge_values)
    return Settings(
        base_dir=tmp_path, edge=values, service={"dashboard_ports": ports or [8501, 8502]}
    )


def rendered(tmp_path: Path, **kwargs: Any) -> dict[str, str]:
    files = edge.render_files(edge.edge_plan(settings(tmp_path, **kwargs)))
    return {str(path): text for path, text in files.items()}


def directives(text: str) -> list[str]:
    """The configuration without comments, one statement per line."""
    return [
        line.split("#", 1)[0].strip() for line in text.splitlines() if line.split("#", 1)[0].strip()
    ]


# --- the allowlists ---------------------------------------------------------------------------


def test_users_and_admins_become_geo_lines_with_their_names(tmp_path: Path):
    files = rendered(tmp_path)
    users = directives(files["fmw/users.conf"])
    assert users == [
        '10.1.2.0/24 "lab";',
        '10.9.9.9/32 "lab";',
        '127.0.0.1/32 "tester";',
        '::1/128 "local";',
    ], "127.0.0.1 is listed, so only ::1 is let in as this server's own 'local'"
    assert directives(files["fmw/admins.conf"]) == ['127.0.0.3/32 "ops";']


def test_this_server_is_let_in_as_local_unless_disabled(tmp_path: Path):
    files = rendered(tmp_path, users={"kim": "10.0.0.7"})
    assert '127.0.0.1/32 "local";' in files["fmw/users.conf"]
    files = rendered(tmp_path, users={"kim": "10.0.0.7"}, local_name="")
    assert "127.0.0.1" not in files["fmw/users.conf"] and "::1" not in files["fmw/users.conf"]


def test_a_specific_listen_address_is_this_servers_own_too(tmp_path: Path):
    files = rendered(tmp_path, listen=["10.20.30.40:80"], users={"kim": "10.0.0.7"})
    assert '10.20.30.40/32 "local";' in files["fmw/users.conf"]


def test_korean_names_are_allowed(tmp_path: Path):
    files = rendered(tmp_path, users={"김민준": "10.0.0.7"})
    assert '10.0.0.7/32 "김민준";' in files["fmw/users.conf"]


def test_ipv6_networks_are_allowed(tmp_path: Path):
    files = rendered(tmp_path, users={"kim": "2001:db8::/64"})
    assert '2001:db8::/64 "kim";' in files["fmw/users.conf"]


@pytest.mark.parametrize(
    ("users", "message"),
    [
        ({"kim": "10.0.0.300"}, r"edge\.users\.kim: '10\.0\.0\.300' is not an address or CIDR"),
        (
            {"kim": "10.1.2.3/24"},
            r"edge\.users\.kim: '10\.1\.2\.3/24' has host bits set: did you "
            r"mean 10\.1\.2\.0/24\?",
        ),
        ({"kim": "fileserver"}, r"edge\.users\.kim: 'fileserver' is not an address"),
        ({"kim": []}, r"edge\.users\.kim: give at least one address"),
        ({'k"im': "10.0.0.1"}, r"edge\.users\.k\"im: the name 'k\"im' must be"),
        ({"a|b": "10.0.0.1"}, r"the name 'a\|b' must be"),
        (
            {"kim": "10.0.0.1", "lee": "10.0.0.1"},
            r"edge\.users\.lee: 10\.0\.0\.1/32 is already "
            r"listed for 'kim'",
        ),
        ({"local": "10.0.0.1"}, r"edge\.local_name: 'local' is also a listed name"),
    ],
)
def test_a_bad_allowlist_entry_is_refused_naming_the_setting(
    tmp_path: Path, users: dict[str, Any], message: str
):
    with pytest.raises(EdgeError, match=message):
        edge.edge_plan(settings(tmp_path, users=users))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"listen": ["80x"]}, r"edge\.listen: '80x': use PORT, ADDRESS:PORT"),
        ({"listen": ["host.example:80"]}, r"edge\.listen: 'host\.example:80'"),
        ({"listen": ["::1:80"]}, r"edge\.listen: '::1:80'"),
        ({"listen": ["70000"]}, r"70000 is not a TCP port"),
        ({"listen": ["8501"]}, r"edge\.listen: port 8501 is a dashboard port"),
        ({"listen": ["80", "80"]}, r"edge\.listen: .* lists an address twice"),
        ({"max_body": "1 MB"}, r"edge\.max_body: '1 MB'"),
        ({"server_name": "a;b"}, r"edge\.server_name"),
        ({"nginx_user": "www data extra"}, r"edge\.nginx_user"),
        ({"admin_dir": "adm$in"}, r"edge\.admin_dir: .* holds a character nginx would misread"),
    ],
)
def test_a_bad_edge_setting_is_refused_naming_it(
    tmp_path: Path, values: dict[str, Any], message: str
):
    with pytest.raises(EdgeError, match=message):
        edge.render_files(edge.edge_plan(settings(tmp_path, **values)))


def test_a_dashboard_port_listed_twice_is_refused(tmp_path: Path):
    with pytest.raises(EdgeError, match=r"service\.dashboard_ports: \[8501, 8501\]"):
        edge.edge_plan(settings(tmp_path, ports=[8501, 8501]))


# --- the main file ----------------------------------------------------------------------------


def test_the_main_file_has_no_daemon_directive_and_keeps_pid_and_temp_in_the_prefix(
    tmp_path: Path,
):
    lines = directives(rendered(tmp_path)["nginx.conf"])
    assert not [line for line in lines if line.startswith("daemon")], "-g 'daemon off;' is used"
    assert "pid logs/nginx.pid;" in lines
    assert "error_log logs/error.log warn;" in lines
    temp = [line for line in lines if "_temp_path" in line]
    assert len(temp) == 5 and all(line.split()[1].startswith("temp/") for line in temp)


def test_every_path_nginx_reads_uses_forward_slashes(tmp_path: Path):
    text = rendered(tmp_path)["nginx.conf"]
    paths = [
        line
        for line in directives(text)
        if line.split()[0] in ("alias", "access_log", "error_log", "pid", "include")
        or line.split()[0].endswith("_temp_path")
    ]
    assert len(paths) > 10 and not [line for line in paths if "\\" in line]
    aliases = re.findall(r'alias "([^"]+)";', text)
    assert aliases == [
        f"{(tmp_path / 'var' / 'admin').as_posix()}/",
        (tmp_path / "var" / "snapshots" / "scheduler-status.json").as_posix(),
        f"{(tmp_path / 'var' / 'snapshots').as_posix()}/",
    ]


def test_the_upstream_lists_every_dashboard_port_on_loopback_sticky_by_address(tmp_path: Path):
    text = rendered(tmp_path, ports=[8501, 8502, 8503])["nginx.conf"]
    block = text.split("upstream fmw_dashboard {", 1)[1].split("}", 1)[0]
    lines = directives(block)
    assert lines[0] == "hash $remote_addr consistent;"
    assert [line.split()[1] for line in lines if line.startswith("server ")] == [
        "127.0.0.1:8501",
        "127.0.0.1:8502",
        "127.0.0.1:8503",
    ]
    assert lines[-1] == "keepalive 16;", "keepalive must follow the balancing method"


def test_the_fence_comes_first_in_the_server_and_server_tokens_are_off(tmp_path: Path):
    lines = directives(rendered(tmp_path)["nginx.conf"])
    server = lines[lines.index("server {") :]
    assert server[1:5] == [
        "listen 127.0.0.1:18080;",
        "server_name _;",
        "if ($fmw_deny) {",
        "return 403;",
    ]
    assert "server_tokens off;" in lines


def test_the_websocket_location_upgrades_and_waits_for_idle_sessions(tmp_path: Path):
    text = rendered(tmp_path, session_timeout_seconds=7200)["nginx.conf"]
    block = text.split("location = /_stcore/stream {", 1)[1].split("}", 1)[0]
    assert "proxy_read_timeout 7200s;" in block and "include fmw/proxy.conf;" in block
    proxy = directives(rendered(tmp_path)["fmw/proxy.conf"])
    assert "proxy_set_header Upgrade $http_upgrade;" in proxy
    assert "proxy_set_header Connection $fmw_connection;" in proxy
    assert "proxy_http_version 1.1;" in proxy
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in proxy, "overwritten, not appended"


def test_limits_and_rates_come_from_the_settings(tmp_path: Path):
    lines = directives(
        rendered(tmp_path, rate_per_second=7, rate_burst=40, max_body="256k")["nginx.conf"]
    )
    assert "limit_req_zone $binary_remote_addr zone=fmw_per_address:10m rate=7r/s;" in lines
    assert "limit_req zone=fmw_per_address burst=40 nodelay;" in lines
    assert "client_max_body_size 256k;" in lines


def test_logs_go_to_an_absolute_folder_when_configured(tmp_path: Path):
    lines = directives(rendered(tmp_path, log_dir="edge-logs")["nginx.conf"])
    folder = (tmp_path / "edge-logs").as_posix()
    assert f'access_log "{folder}/access.log" fmw_json;' in lines
    assert f'access_log "{folder}/denied.log" fmw_json if=$fmw_deny;' in lines


def test_the_user_directive_is_written_only_when_set(tmp_path: Path):
    assert not any(
        line.startswith("user ") for line in directives(rendered(tmp_path)["nginx.conf"])
    )
    assert "user www-data;" in directives(rendered(tmp_path, nginx_user="www-data")["nginx.conf"])


def test_the_static_parts_are_shipped_with_the_site(tmp_path: Path):
    files = rendered(tmp_path)
    assert {
        "fmw/fence.conf",
        "fmw/log_format.conf",
        "fmw/proxy.conf",
        "fmw/dashboard_headers.conf",
        "fmw/admin_headers.conf",
        "fmw/mime.types",
    } <= set(files)
    log_format = files["fmw/log_format.conf"]
    assert "escape=json" in log_format
    for field in (
        "$time_iso8601",
        "$remote_addr",
        "$fmw_user",
        "$request_method",
        "$request_uri",
        "$status",
        "$body_bytes_sent",
        "$request_time",
    ):
        assert field in log_format


def test_no_placeholder_is_left_unfilled(tmp_path: Path):
    assert "{{" not in rendered(tmp_path)["nginx.conf"]


def test_an_unknown_placeholder_is_an_error():
    with pytest.raises(EdgeError, match=r"unknown placeholder \{\{ nope \}\}"):
        edge.fill("a {{ nope }} b", {})


# --- where things are -------------------------------------------------------------------------


def test_nginx_url_is_none_until_the_site_is_rendered(tmp_path: Path):
    config = settings(tmp_path, listen=["0.0.0.0:8080"])
    assert edge.nginx_url(config) is None
    main = edge.conf_path(config)
    main.parent.mkdir(parents=True)
    main.write_text(edge.render_files(edge.edge_plan(config))[PurePosixPath("nginx.conf")])
    assert edge.nginx_url(config) == "http://127.0.0.1:8080"
    assert edge.nginx_health_url(config) == "http://127.0.0.1:8080/_stcore/health"


def test_nginx_url_ignores_a_main_file_fmw_did_not_write(tmp_path: Path):
    config = settings(tmp_path)
    main = edge.conf_path(config)
    main.parent.mkdir(parents=True)
    main.write_text("worker_processes 1;\n")
    assert edge.nginx_url(config) is None


@pytest.mark.parametrize(
    ("listen", "url"),
    [
        ("80", "http://127.0.0.1:80"),
        ("[::]:8443", "http://[::1]:8443"),
        ("10.1.2.3:80", "http://10.1.2.3:80"),
    ],
)
def test_nginx_url_uses_the_first_listen_address(tmp_path: Path, listen: str, url: str):
    config = settings(tmp_path, listen=[listen])
    main = edge.conf_path(config)
    main.parent.mkdir(parents=True)
    main.write_text(edge.CONF_MARKER + "\n")
    assert edge.nginx_url(config) == url


# --- the web app ------------------------------------------------------------------------------


def test_the_api_paths_go_to_the_web_app_naming_the_admin(tmp_path: Path):
    conf = directives(rendered(tmp_path)["nginx.conf"])
    assert "server 127.0.0.1:8510 max_fails=1 fail_timeout=10s;" in conf
    for path in ("/api/v1/", "/api/dev/console/", "/api/dev/api/"):
        at = conf.index(f"location ^~ {path} {{")
        assert conf[at + 1 : at + 3] == [
            "include fmw/web_proxy.conf;",
            "proxy_set_header X-FMW-Admin $fmw_admin_name;",
        ]
    # The static admin surface stays: everything else under /api/dev/ is files on disk.
    assert "location ^~ /api/dev/ {" in conf
    fence = directives(rendered(tmp_path)["fmw/fence.conf"])
    assert fence[-4:] == ["map $fmw_admin $fmw_admin_name {", '"" "-";', "default $fmw_admin;", "}"]


def test_without_the_web_app_there_are_no_api_routes(tmp_path: Path):
    files = edge.render_files(
        edge.edge_plan(
            Settings(
                base_dir=tmp_path, edge={"listen": ["127.0.0.1:18080"]}, web={"enabled": False}
            )
        )
    )
    conf = files[PurePosixPath("nginx.conf")]
    assert "fmw_web" not in conf
    assert "/api/v1/" not in conf


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"identity_header": "REMOTE_USER"}, "REMOTE_USER is for a server"),
        ({"identity_header": "X FMW"}, "web.identity_header: 'X FMW'"),
        ({"port": 8501}, "web.port: 8501 is a dashboard port"),
    ],
)
def test_a_web_setting_nginx_cannot_use_is_refused(tmp_path: Path, web: dict, message: str):
    with pytest.raises(EdgeError, match=re.escape(message)):
        edge.edge_plan(Settings(base_dir=tmp_path, edge={"listen": ["127.0.0.1:18080"]}, web=web))
