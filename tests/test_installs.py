"""Dependency installs with the server's network configuration: CA bundles, proxies, npm's config.

This machine reaches PyPI and npm only through a TLS-intercepting proxy; an installer that lost
``SSL_CERT_FILE`` or the system npmrc's ``cafile`` failed every install. Local HTTPS registries
signed by a test CA (trustme) prove the trust settings reach uv and npm without the internet; one
real install per language proves the real path through this machine's proxy.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import ssl
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trustme
from flask.testing import FlaskClient
from pydantic import ValidationError

from backend.config import Settings
from backend.services.executor import environments
from tests.conftest import AppFactory, make_settings
from tests.helpers import create_script, execute, log_text, wait_final
from tests.test_executor import make_wheel

# A failing install must say so soon; npm's defaults took ~70 s to report an untrusted certificate.
FAST_FAILURE_SECONDS = 20.0
# Variables of this machine (or a developer's shell) that would send installs elsewhere than the
# test registry, or decide trust in place of the test's CA bundle.
STEERING = (
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_OFFLINE",
    "UV_SYSTEM_CERTS",
    "UV_NATIVE_TLS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "npm_config_registry",
    "npm_config_cafile",
    "npm_config_ca",
    "npm_config_globalconfig",
    "npm_config_prefix",
    "npm_config_offline",
    "npm_config_fetch_retries",
    "npm_config_fetch_retry_mintimeout",
    "npm_config_fetch_retry_maxtimeout",
    "NODE_EXTRA_CA_CERTS",
)


class _Registry(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, tuple[str, bytes]]
    hits: list[str]


class _Handler(BaseHTTPRequestHandler):
    server: _Registry

    def do_GET(self) -> None:
        body = self._head()
        if body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        """uv asks with HEAD whether a wheel allows range requests before it downloads it."""
        self._head()

    def _head(self) -> bytes | None:
        path = urlsplit(self.path).path
        self.server.hits.append(path)
        found = self.server.routes.get(path) or self.server.routes.get(path.rstrip("/") + "/")
        if found is None:
            self.send_error(404)
            return None
        content_type, body = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def log_message(self, format: str, *args: object) -> None:
        pass


class HttpsRegistry:
    """Static files over HTTPS on 127.0.0.1, with a certificate from the given test CA."""

    def __init__(self, ca: trustme.CA) -> None:
        self.httpd = _Registry(("127.0.0.1", 0), _Handler)
        self.httpd.routes, self.httpd.hits = {}, []
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def routes(self) -> dict[str, tuple[str, bytes]]:
        return self.httpd.routes

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def __enter__(self) -> HttpsRegistry:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture(scope="module")
def wrong_ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA that signed nothing here: the 'wrong corporate bundle' case."""
    path = tmp_path_factory.mktemp("wrong-ca") / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The server's environment without this machine's index and trust settings; loopback unproxied."""
    for name in STEERING:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return monkeypatch


@pytest.fixture
def pypi(ca: trustme.CA, tmp_path: Path) -> Iterator[HttpsRegistry]:
    """A PEP 503 "simple" index holding one hand-built wheel, ``tlsprobe`` 0.1."""
    wheel = make_wheel(tmp_path, "tlsprobe", "0.1")
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    with HttpsRegistry(ca) as registry:
        page = f'<html><body><a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>'
        registry.routes.update(
            {
                "/simple/": ("text/html", b'<html><body><a href="/simple/tlsprobe/">tlsprobe</a></body></html>'),
                "/simple/tlsprobe/": ("text/html", page.encode()),
                f"/files/{wheel.name}": ("application/octet-stream", data),
            }
        )
        yield registry


def npm_tarball(name: str, version: str) -> bytes:
    """A package tarball as npm publishes it: every file under ``package/``."""
    files = {
        "package/package.json": json.dumps({"name": name, "version": version, "main": "index.js"}).encode(),
        "package/index.js": f"module.exports = () => 'from {name} {version}';\n".encode(),
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, content in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(content), 0o644, 1_700_000_000
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@pytest.fixture
def npm_registry(ca: trustme.CA) -> Iterator[HttpsRegistry]:
    """A registry with one package, ``tlsprobe-js`` 1.0.0: its packument and its tarball."""
    name, version = "tlsprobe-js", "1.0.0"
    tarball = npm_tarball(name, version)
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    with HttpsRegistry(ca) as registry:
        tarball_path = f"/{name}/-/{name}-{version}.tgz"
        manifest = {
            "name": name,
            "version": version,
            "main": "index.js",
            "dist": {
                "tarball": registry.url + tarball_path,
                "integrity": integrity,
                "shasum": hashlib.sha1(tarball).hexdigest(),
            },
        }
        packument = {"name": name, "dist-tags": {"latest": version}, "versions": {version: manifest}}
        registry.routes.update(
            {
                f"/{name}": ("application/json", json.dumps(packument).encode()),
                tarball_path: ("application/octet-stream", tarball),
            }
        )
        yield registry


def run_to_end(
    client: FlaskClient, settings: Settings, script_id: int, timeout: float = 180
) -> tuple[dict, str, float]:
    started = time.monotonic()
    done = wait_final(client, execute(client, script_id)["id"], timeout)
    return done, log_text(client, done["id"], settings), time.monotonic() - started


def report(what: str, seconds: float, error: str | None = None) -> None:
    """Timings (and errors), for ``pytest -s``: the measurements the README quotes."""
    print(f"\n[timing] {what}: {seconds:.2f} s" + (f"\n[error] {error}" if error else ""), file=sys.stderr)


# --- Python: uv against a local HTTPS index ---------------------------------------------------------

PY_PROBE = "import tlsprobe\nprint(tlsprobe.VALUE)\n"


def test_uv_trusts_the_ca_bundle_the_server_environment_names(
    isolated: pytest.MonkeyPatch, pypi: HttpsRegistry, ca_bundle: Path, client: FlaskClient, settings: Settings
) -> None:
    isolated.setenv("UV_DEFAULT_INDEX", f"{pypi.url}/simple")
    isolated.setenv("SSL_CERT_FILE", str(ca_bundle))
    script = create_script(client, "py-tls", PY_PROBE, dependencies=["tlsprobe==0.1"])
    done, text, seconds = run_to_end(client, settings, script["id"])
    report("uv install from the local HTTPS index (test CA)", seconds)
    assert done["status"] == "succeeded", text
    assert "from tlsprobe 0.1" in text
    assert "/files/tlsprobe-0.1-py3-none-any.whl" in pypi.hits


@pytest.mark.parametrize("trust", ["wrong-ca", "no-bundle"])
def test_uv_with_an_untrusted_index_fails_quickly_and_says_why(
    trust: str,
    isolated: pytest.MonkeyPatch,
    pypi: HttpsRegistry,
    wrong_ca_bundle: Path,
    client: FlaskClient,
    settings: Settings,
) -> None:
    isolated.setenv("UV_DEFAULT_INDEX", f"{pypi.url}/simple")
    if trust == "wrong-ca":
        isolated.setenv("SSL_CERT_FILE", str(wrong_ca_bundle))
    script = create_script(client, "py-untrusted", PY_PROBE, dependencies=["tlsprobe==0.1"])
    done, text, seconds = run_to_end(client, settings, script["id"])
    report(f"uv install failing ({trust})", seconds, done["error"])
    assert done["status"] == "failed"
    assert done["error"].startswith("dependency install failed: Failed to fetch"), done["error"]
    assert "invalid peer certificate" in done["error"] and "SSL_CERT_FILE" in done["error"]
    assert "certificate" in text and "dependency install failed: uv exited with code" in text
    assert "from tlsprobe" not in text
    assert seconds < FAST_FAILURE_SECONDS
    assert [p for p in settings.envs_dir.iterdir() if p.is_dir()] == []


# --- JavaScript: npm against a local HTTPS registry -------------------------------------------------

JS_PROBE = "console.log(require('tlsprobe-js')())\n"


def test_npm_reads_the_cafile_of_the_system_global_npmrc(
    isolated: pytest.MonkeyPatch,
    npm_registry: HttpsRegistry,
    ca_bundle: Path,
    tmp_path: Path,
    client: FlaskClient,
    settings: Settings,
) -> None:
    """The global npmrc of this machine holds its ``cafile``; ``--prefix <env>`` used to make npm
    read ``<env>/etc/npmrc`` instead. A global prefix of the test's own holds the test's npmrc."""
    global_prefix = tmp_path / "npm-global"
    (global_prefix / "etc").mkdir(parents=True)
    (global_prefix / "etc" / "npmrc").write_text(f"registry={npm_registry.url}/\ncafile={ca_bundle}\n")
    isolated.setenv("npm_config_prefix", str(global_prefix))
    script = create_script(client, "js-tls", JS_PROBE, language="javascript", dependencies=["tlsprobe-js@1.0.0"])
    done, text, seconds = run_to_end(client, settings, script["id"])
    report("npm install from the local HTTPS registry (cafile in the global npmrc)", seconds)
    assert done["status"] == "succeeded", text
    assert "from tlsprobe-js 1.0.0" in text
    assert "--prefix" not in text


def test_npm_with_an_untrusted_registry_fails_quickly_and_says_why(
    isolated: pytest.MonkeyPatch,
    npm_registry: HttpsRegistry,
    wrong_ca_bundle: Path,
    client: FlaskClient,
    settings: Settings,
) -> None:
    isolated.setenv("npm_config_registry", f"{npm_registry.url}/")
    isolated.setenv("npm_config_cafile", str(wrong_ca_bundle))
    script = create_script(client, "js-untrusted", JS_PROBE, language="javascript", dependencies=["tlsprobe-js@1.0.0"])
    done, text, seconds = run_to_end(client, settings, script["id"])
    report("npm install failing (wrong CA)", seconds, done["error"])
    assert done["status"] == "failed"
    assert done["error"].startswith("dependency install failed: "), done["error"]
    assert "certificate" in done["error"] and "cafile" in done["error"]
    assert "certificate" in text and "dependency install failed: npm exited with code" in text
    assert seconds < FAST_FAILURE_SECONDS
    assert [p for p in settings.envs_dir.iterdir() if p.is_dir()] == []


# --- The real registries, through this machine's proxy ---------------------------------------------


@pytest.mark.timeout(600)
@pytest.mark.parametrize("trust", ["server-env", "system-store"])
def test_a_real_pypi_install_through_the_machine_network(
    trust: str, monkeypatch: pytest.MonkeyPatch, client: FlaskClient, settings: Settings
) -> None:
    """As the server's environment has it; and with no bundle named, through uv's system-store default."""
    if trust == "system-store":
        for name in environments.CERT_SETTINGS:
            monkeypatch.delenv(name, raising=False)
    code = "import six\nprint('six', six.__version__)\n"
    script = create_script(client, "real-pypi", code, dependencies=["six"])
    done, text, seconds = run_to_end(client, settings, script["id"], timeout=540)
    report(f"real uv install of six ({trust})", seconds)
    assert done["status"] == "succeeded", text
    assert "six 1." in text


@pytest.mark.timeout(600)
def test_a_real_npm_install_through_the_machine_network(client: FlaskClient, settings: Settings) -> None:
    code = "const isNumber = require('is-number'); console.log('is-number', isNumber(5), isNumber('x'))\n"
    script = create_script(client, "real-npm", code, language="javascript", dependencies=["is-number@7"])
    done, text, seconds = run_to_end(client, settings, script["id"], timeout=540)
    report("real npm install of is-number", seconds)
    assert done["status"] == "succeeded", text
    assert "is-number true false" in text


# --- What reaches the installer and the script ------------------------------------------------------

SERVER_ENV = {
    "SCRIPTMAN_SECRET_KEY": "server-secret-key-value",
    "scriptman_admin_password": "lower-case-setting-value",
    "HTTPS_PROXY": "http://proxy.example:3128",
    "http_proxy": "http://proxy.example:3128",
    "NO_PROXY": "localhost",
    "SSL_CERT_FILE": "/etc/example/ca.pem",
    "PIP_CERT": "/etc/example/ca.pem",
    "PIP_FIND_LINKS": "/opt/example-wheels",
    "UV_INDEX_URL": "https://index.example/simple",
    "NODE_EXTRA_CA_CERTS": "/etc/example/ca.pem",
    "npm_config_cafile": "/etc/example/ca.pem",
    "NPM_CONFIG_REGISTRY": "https://registry.example/",
}


def test_the_installer_gets_the_network_configuration_but_no_scriptman_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in SERVER_ENV.items():
        monkeypatch.setenv(name, value)
    for env in (environments.uv_installer_env(tmp_path), environments.npm_installer_env(tmp_path)):
        assert not [k for k in env if k.upper().startswith("SCRIPTMAN_")]
        for name, value in SERVER_ENV.items():
            if not name.upper().startswith("SCRIPTMAN_"):
                assert env[name] == value, name
        assert "server-secret-key-value" not in env.values()


def test_uv_uses_the_system_trust_store_unless_a_bundle_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in environments.CERT_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    assert environments.uv_installer_env(tmp_path)["UV_SYSTEM_CERTS"] == "true"
    monkeypatch.setenv("SSL_CERT_FILE", "/etc/example/ca.pem")
    env = environments.uv_installer_env(tmp_path)
    assert "UV_SYSTEM_CERTS" not in env and env["SSL_CERT_FILE"] == "/etc/example/ca.pem"


def test_npm_runs_in_the_env_folder_with_the_servers_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ``--prefix`` (it moved npm's global config); CA variables and npm_config_* arrive; an
    admin's own retry settings win over Scriptman's fail-fast defaults."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "npm-call.json"
    (fake_bin / "npm").write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "os.makedirs('node_modules', exist_ok=True)\n"
        f"json.dump({{'argv': sys.argv, 'cwd': os.getcwd(), 'env': dict(os.environ)}}, open({str(record)!r}, 'w'))\n"
    )
    (fake_bin / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}:{environments.SYSTEM_BIN_PATH}")
    for name, value in SERVER_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("npm_config_fetch_retries", raising=False)
    monkeypatch.setenv("NPM_CONFIG_FETCH_RETRY_MAXTIMEOUT", "30000")
    lines: list[str] = []
    built = environments.ensure_environment(tmp_path / "envs", "javascript", ["left-pad@1"], lines.append)
    call = json.loads(record.read_text())
    assert "--prefix" not in call["argv"] and call["argv"][-1] == "left-pad@1"
    assert built.path is not None and Path(call["cwd"]).parent == built.path.parent
    env = call["env"]
    assert env["NODE_EXTRA_CA_CERTS"] == env["npm_config_cafile"] == "/etc/example/ca.pem"
    assert env["NPM_CONFIG_REGISTRY"] == "https://registry.example/" and env["HTTPS_PROXY"]
    assert env["npm_config_fetch_retries"] == "1"
    assert env["NPM_CONFIG_FETCH_RETRY_MAXTIMEOUT"] == "30000" and "npm_config_fetch_retry_maxtimeout" not in env
    assert not [k for k in env if k.upper().startswith("SCRIPTMAN_")]


PY_ENV_DUMP = "import json, os\nprint('ENV=' + json.dumps(dict(os.environ)))\n"


def test_scripts_get_named_server_variables_and_never_scriptman_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, make_app: AppFactory
) -> None:
    for name, value in SERVER_ENV.items():
        monkeypatch.setenv(name, value)
    settings = make_settings(tmp_path, script_env_passthrough_csv="HTTPS_PROXY, no_proxy ,UNSET_VARIABLE")
    monkeypatch.setenv("no_proxy", "internal.example")
    monkeypatch.delenv("UNSET_VARIABLE", raising=False)
    client = make_app(settings).test_client()
    script = create_script(client, "env-dump", PY_ENV_DUMP)
    done, text, _ = run_to_end(client, settings, script["id"], timeout=60)
    assert done["status"] == "succeeded", text
    env = json.loads(next(line for line in text.splitlines() if "ENV={" in line).split("ENV=", 1)[1])
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128" and env["no_proxy"] == "internal.example"
    assert "UNSET_VARIABLE" not in env
    for name in ("SSL_CERT_FILE", "PIP_CERT", "http_proxy", "NODE_EXTRA_CA_CERTS"):  # not named: not passed
        assert name not in env
    scriptman_names = {k for k in env if k.upper().startswith("SCRIPTMAN_")}
    assert scriptman_names <= {"SCRIPTMAN_RESULT", "SCRIPTMAN_RUN_COOKIE"}  # the run's own, not settings
    assert "server-secret-key-value" not in text and "lower-case-setting-value" not in text


@pytest.mark.parametrize("names", ["SCRIPTMAN_SECRET_KEY", "scriptman_admin_password", "WORKSPACE", "BAD-NAME"])
def test_passthrough_of_scriptman_or_run_variables_is_refused_at_startup(names: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        make_settings(tmp_path, script_env_passthrough_csv=f"HTTPS_PROXY,{names}")


def test_passthrough_is_read_from_its_scriptman_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SCRIPTMAN_SCRIPT_ENV_PASSTHROUGH", " HTTPS_PROXY , NO_PROXY,")
    assert Settings(home=tmp_path).script_env_passthrough == ["HTTPS_PROXY", "NO_PROXY"]
    assert Settings(home=tmp_path, script_env_passthrough_csv="").script_env_passthrough == []


UV_CERT_FAILURE = """\
Resolved 1 package in 10ms
error: Failed to fetch: `https://127.0.0.1:4443/simple/tlsprobe/`
  Caused by: Request failed after 3 retries
  cause: error sending request for url (https://127.0.0.1:4443/simple/tlsprobe/)
  cause: client error (Connect)
  cause: invalid peer certificate: UnknownIssuer

hint: Consider enabling use of system TLS certificates with the `--system-certs` command-line flag"""
NPM_CERT_FAILURE = """\
npm error code SELF_SIGNED_CERT_IN_CHAIN
npm error errno SELF_SIGNED_CERT_IN_CHAIN
npm error request to https://registry.npmjs.org/is-number failed, reason: self-signed certificate in certificate chain
npm error A complete log of this run can be found in: /tmp/cache/_logs/debug-0.log"""
UV_NO_SOLUTION_TTY = """\
Using Python 3.11.7 environment at: /tmp/env
\x1b[31m\u00d7\x1b[0m No solution found when resolving dependencies:
  \u2570\u2500\u25b6 Because nope-xyz was not found in the package registry and you require nope-xyz==1.0, we can \
conclude that your requirements are unsatisfiable."""
PIP_NOT_FOUND = """\
ERROR: Could not find a version that satisfies the requirement nope-xyz==1.0 (from versions: none)
ERROR: No matching distribution found for nope-xyz==1.0"""
NPM_NOT_FOUND = """\
npm error code E404
npm error 404 Not Found - GET https://registry.npmjs.org/nope-nope - Not found
npm error 404
npm error A complete log of this run can be found in: /tmp/cache/_logs/debug-0.log"""


def test_the_failure_reason_is_the_installers_root_cause() -> None:
    reason = environments.failure_reason
    assert reason(UV_CERT_FAILURE.splitlines()) == (
        "Failed to fetch: `https://127.0.0.1:4443/simple/tlsprobe/`: invalid peer certificate: UnknownIssuer"
    )
    assert reason(NPM_CERT_FAILURE.splitlines()) == (
        "request to https://registry.npmjs.org/is-number failed, reason: self-signed certificate in certificate chain"
    )
    assert reason(NPM_NOT_FOUND.splitlines()).startswith("404 Not Found - GET https://")
    assert reason(UV_NO_SOLUTION_TTY.splitlines()) == (
        "No solution found when resolving dependencies: Because nope-xyz was not found in the package registry"
        " and you require nope-xyz==1.0, we can conclude that your requirements are unsatisfiable."
    )
    assert reason(PIP_NOT_FOUND.splitlines()) == (
        "Could not find a version that satisfies the requirement nope-xyz==1.0 (from versions: none)"
    )
    assert reason(["Resolved 3 packages", "something odd happened"]) == "something odd happened"
    assert reason([]) == ""


def test_only_the_installers_error_lines_are_stderr_records(tmp_path: Path) -> None:
    """Installers report progress on stderr too: a line is an error from the first "error" line on."""
    out: list[str] = []
    err: list[str] = []
    installer = (
        "echo 'Using Python 3.11'; echo 'Resolved 1 package' >&2; echo 'error: No solution found' >&2;"
        " echo '  cause: Because nope was not found' >&2; exit 1"
    )
    with pytest.raises(environments.EnvironmentError_) as caught:
        environments._run_installer(
            ["bash", "-c", installer], {"PATH": "/usr/bin:/bin"}, out.append, err_sink=err.append
        )
    assert err == ["error: No solution found", "  cause: Because nope was not found"]
    assert out[1:] == ["Using Python 3.11", "Resolved 1 package", "dependency install failed: bash exited with code 1"]
    assert caught.value.detail == "dependency install failed: No solution found: Because nope was not found"


def test_an_installer_past_the_time_limit_is_stopped_with_its_children(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The output loop blocks while the installer runs: the limit must not depend on it ending."""
    monkeypatch.setattr(environments, "INSTALL_TIMEOUT_SECONDS", 1)
    lines: list[str] = []
    started = time.monotonic()
    with pytest.raises(environments.EnvironmentError_, match="took longer than 1 s"):
        environments._run_installer(
            ["bash", "-c", "sleep 60 & echo started; wait"], {"PATH": "/usr/bin:/bin"}, lines.append
        )
    assert time.monotonic() - started < 10
    assert "started" in lines
