"""The lab's peers on loopback (provider fakes, LLM) and its names in the lab DNS."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import dns.flags
import dns.message
import dns.query
import dns.rcode
import httpx
import pytest
from django.core.exceptions import ValidationError

from lab import labnames, netlab, peers
from lab.lab import Lab, LabError, LabHost
from lab.peers import Peers
from mailpanel.vault import kinds


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    # trust_env=False: no proxy variable may send lab traffic anywhere else.
    return httpx.Client(base_url=base_url, trust_env=False, timeout=10.0, **kwargs)


def ask(lab: Lab, name: str, rdtype: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, lab.dns_address, timeout=3)


def answers(lab: Lab, name: str, rdtype: str) -> list[str]:
    return sorted(rd.to_text() for rrset in ask(lab, name, rdtype).answer for rd in rrset)


def on_host(host: LabHost, command: str) -> str:
    async def run() -> str:
        async with asyncssh.connect(
            host.address,
            username="root",
            client_keys=[str(host.root_key_path)],
            known_hosts=asyncssh.import_known_hosts(host.known_hosts()),
        ) as conn:
            return str((await conn.run(command, check=False, timeout=30)).stdout)

    return asyncio.run(run())


@pytest.fixture
def lab_peers(lab: Lab) -> Peers:
    if lab.peers is None:
        pytest.skip("the session lab runs without peers")
    return lab.peers


# --- pure checks (no lab needed) -----------------------------------------------------


def test_generated_credentials_pass_the_vaults_own_checks() -> None:
    made = Peers.generate()
    kinds.validate_cloudflare({"token": made.cloudflare_token})
    kinds.validate_namecom({"username": made.namecom_username, "token": made.namecom_token})
    kinds.validate_openprovider(
        {"username": made.openprovider_username, "password": made.openprovider_password}
    )
    kinds.validate_nvidia({"api_key": made.llm_key})
    with pytest.raises(ValidationError):  # the checks are real: a bad key fails them
        kinds.validate_nvidia({"api_key": "sk-" + made.llm_key})
    assert Peers.generate().cloudflare_token != made.cloudflare_token


def test_the_printed_settings_point_the_panel_at_loopback_and_the_lab_dns() -> None:
    made = Peers.generate({"cloudflare": 1, "namecom": 2, "openprovider": 3, "llm": 4})
    assert made.env("10.200.0.2") == {
        "MAILPANEL_CLOUDFLARE_API_URL": "http://127.0.0.1:1/client/v4",
        "MAILPANEL_NAMECOM_API_URL": "http://127.0.0.1:2/v4",
        "MAILPANEL_OPENPROVIDER_API_URL": "http://127.0.0.1:3/v1beta",
        "MAILPANEL_NVIDIA_API_URL": "http://127.0.0.1:4/v1",
        "MAILPANEL_STRIPE_API_URL": f"http://127.0.0.1:{peers.PORTS['stripe']}",
        "MAILPANEL_DNS_RESOLVERS": "10.200.0.2",
        "MAILPANEL_STRIPE_SECRET_KEY": made.stripe_key,
        "MAILPANEL_STRIPE_WEBHOOK_SECRET": made.stripe_webhook_secret,
        "MAILPANEL_STRIPE_PRICE_PRO": "price_lab_pro",
        "MAILPANEL_STRIPE_PRICE_BUSINESS": "price_lab_business",
    }
    assert Peers.from_json(made.to_json()) == made


def test_a_credential_that_starts_with_a_dash_reaches_the_fake(tmp_path: Path) -> None:
    # token_urlsafe() may start with "-": it must not be parsed as an option.
    ports = {"cloudflare": 0, "namecom": 0, "openprovider": 0, "llm": 0}
    made = dataclasses.replace(Peers.generate(ports), cloudflare_token="-" + "a" * 39)
    args = made.args("cloudflare", tmp_path / "zones.sqlite")
    cmd = [sys.executable, "-m", peers.MODULES["cloudflare"], *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().rsplit(" ", 1)[-1].strip()
            assert url.startswith("http://127.0.0.1:"), url
            with client(url) as cf:
                verify = cf.get("/user/tokens/verify", headers=bearer(made.cloudflare_token))
            assert verify.status_code == 200
        finally:
            proc.terminate()


def test_a_port_something_listens_on_counts_as_busy() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        assert peers.busy_ports({"cloudflare": port}) == [f"cloudflare on 127.0.0.1:{port}"]
    assert peers.busy_ports({"cloudflare": port}) == []


def test_reverse_and_dnsbl_names() -> None:
    assert labnames.reverse_name("10.200.0.11") == "11.0.200.10.in-addr.arpa"
    assert labnames.dnsbl_name("10.200.0.11") == "11.0.200.10.dnsbl.lab"
    assert labnames.host_name("vps3") == "vps3.lab"
    with pytest.raises(ValueError):
        labnames.reverse_name("not-an-address")


# --- the session lab ---------------------------------------------------------------------


@pytest.mark.lab
def test_the_peers_listen_on_loopback_only(lab: Lab, lab_peers: Peers) -> None:
    listening = subprocess.run(
        ["ss", "-Hltn"], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    for name in [*peers.MODULES, "localstripe"]:
        port = lab_peers.localstripe_port if name == "localstripe" else lab_peers.port(name)
        local = [line.split()[3] for line in listening if line.split()[3:4]]
        bound = [address for address in local if address.rsplit(":", 1)[1] == str(port)]
        assert bound == [f"127.0.0.1:{port}"], name


@pytest.mark.lab
def test_each_peer_accepts_its_lab_account_and_refuses_others(lab_peers: Peers) -> None:
    with client(lab_peers.cloudflare_url) as cf:
        verify = cf.get("/user/tokens/verify", headers=bearer(lab_peers.cloudflare_token))
        assert verify.status_code == 200 and verify.json()["result"]["status"] == "active"
        assert cf.get("/user/tokens/verify", headers=bearer("not-the-token")).status_code == 401
        zones = cf.get("/zones", headers=bearer(lab_peers.cloudflare_token)).json()["result"]
        assert sorted(zone["name"] for zone in zones) == sorted(peers.ZONES["cloudflare"])
    namecom_auth = (lab_peers.namecom_username, lab_peers.namecom_token)
    with client(lab_peers.namecom_url, auth=namecom_auth) as nc:
        assert nc.get("/hello").json()["username"] == lab_peers.namecom_username
        domains = nc.get("/domains").json()["domains"]
        assert [d["domainName"] for d in domains] == list(peers.ZONES["namecom"])
    with client(lab_peers.openprovider_url) as op:
        good = {"username": lab_peers.openprovider_username, "ip": "0.0.0.0"}
        login = op.post("/auth/login", json={**good, "password": lab_peers.openprovider_password})
        assert login.json()["data"]["token"]
        bad = op.post("/auth/login", json={**good, "password": "wrong"})
        assert bad.json()["code"] != 0
    with client(lab_peers.llm_url) as llm:
        chat = {"model": "meta/llama-3.1-8b-instruct", "messages": [{"role": "user",
                "content": "Announce lab relay"}], "max_tokens": 8}  # fmt: skip
        answer = llm.post("/chat/completions", json=chat, headers=bearer(lab_peers.llm_key))
        assert answer.status_code == 200
        assert "relay" in answer.json()["choices"][0]["message"]["content"].lower()
        wrong = llm.post("/chat/completions", json=chat, headers=bearer("nvapi-" + "x" * 30))
        assert wrong.status_code == 401
    with client(lab_peers.stripe_url, headers=bearer(lab_peers.stripe_key)) as processor:
        for price, amount, _ in peers.STRIPE_PLANS.values():  # made at start, for `make run`
            found = processor.get(f"/v1/prices/{price}")
            assert found.status_code == 200 and found.json()["unit_amount"] == amount


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.lab
def test_the_lab_zones_are_served_by_the_lab_dns(lab: Lab, lab_peers: Peers) -> None:
    for zone in (name for zones in peers.ZONES.values() for name in zones):
        reply = ask(lab, zone, "SOA")
        assert reply.rcode() == dns.rcode.NOERROR, zone
        assert reply.flags & dns.flags.AA, zone
        assert answers(lab, zone, "NS") == ["ns.lab."]


@pytest.mark.lab
def test_a_record_made_through_each_api_is_answered_at_once(
    lab: Lab, lab_peers: Peers, cleanup: list[Callable[[], object]]
) -> None:
    token = bearer(lab_peers.cloudflare_token)
    with client(lab_peers.cloudflare_url, headers=token) as cf:
        zone = cf.get("/zones", params={"name": "shop.test"}).json()["result"][0]["id"]
        made = cf.post(f"/zones/{zone}/dns_records",
                       json={"type": "A", "name": "api.shop.test", "content": "10.200.0.21",
                             "ttl": 60}).json()["result"]  # fmt: skip
    cleanup.append(lambda: delete(lab_peers.cloudflare_url, token, zone, made["id"]))
    assert answers(lab, "api.shop.test", "A") == ["10.200.0.21"]

    namecom_auth = (lab_peers.namecom_username, lab_peers.namecom_token)
    with client(lab_peers.namecom_url, auth=namecom_auth) as nc:
        body = {"host": "api", "type": "TXT", "answer": "made at name.com", "ttl": 300}
        created = nc.post("/domains/namecom.test/records", json=body)
        assert created.status_code == 200, created.text
        record_id = created.json()["id"]
    cleanup.append(lambda: namecom_delete(lab_peers, record_id))
    assert answers(lab, "api.namecom.test", "TXT") == ['"made at name.com"']

    record = {"name": "api", "type": "A", "value": "10.200.0.22", "ttl": 900, "prio": 0}
    openprovider_change(lab_peers, {"add": [record]})
    cleanup.append(lambda: openprovider_change(lab_peers, {"remove": [record]}))
    assert answers(lab, "api.openprovider.test", "A") == ["10.200.0.22"]


@pytest.fixture
def cleanup() -> Iterator[list[Callable[[], object]]]:
    """Undo what a test wrote to the session lab's shared zones, also when it fails."""
    undo: list[Callable[[], object]] = []
    yield undo
    for step in reversed(undo):
        step()


def delete(url: str, headers: dict[str, str], zone: str, record: str) -> None:
    with client(url, headers=headers) as cf:
        cf.delete(f"/zones/{zone}/dns_records/{record}").raise_for_status()


def namecom_delete(lab_peers: Peers, record_id: int) -> None:
    with client(lab_peers.namecom_url, auth=(lab_peers.namecom_username,
                                             lab_peers.namecom_token)) as nc:  # fmt: skip
        nc.delete(f"/domains/namecom.test/records/{record_id}").raise_for_status()


def openprovider_change(lab_peers: Peers, records: dict[str, list[dict[str, Any]]]) -> None:
    with client(lab_peers.openprovider_url) as op:
        login = {"username": lab_peers.openprovider_username,
                 "password": lab_peers.openprovider_password, "ip": "0.0.0.0"}  # fmt: skip
        session = op.post("/auth/login", json=login).json()["data"]["token"]
        body = {"name": "openprovider.test", "records": records}
        put = op.put("/dns/zones/openprovider.test", headers=bearer(session), json=body)
        assert put.json()["code"] == 0, put.text


@pytest.mark.lab
def test_hosts_and_services_have_names_and_ptrs_in_the_lab_dns(lab: Lab) -> None:
    if not lab.services:
        pytest.skip("the lab's DNS service module is not in this checkout")
    for host in lab.hosts:
        assert answers(lab, f"{host.name}.lab", "A") == [host.address]
        reverse = labnames.reverse_name(host.address)
        assert answers(lab, reverse, "PTR") == [f"{host.name}.lab."]
    assert answers(lab, "ns.lab", "A") == [lab.dns_address]
    assert answers(lab, "mx.lab", "A") == [lab.mx_address]
    assert answers(lab, labnames.reverse_name(lab.mx_address), "PTR") == ["mx.lab."]
    # A host finds its neighbours by name with its own resolver (the lab DNS).
    last = lab.hosts[-1]
    assert on_host(lab.hosts[0], f"getent hosts {last.name}.lab").split() == [
        last.address,
        f"{last.name}.lab",
    ]


@pytest.mark.lab
def test_a_listed_address_is_found_in_the_lab_dnsbl(lab: Lab) -> None:
    if not lab.services:
        pytest.skip("the lab's DNS service module is not in this checkout")
    listed = lab.hosts[0]
    name = lab.dnsbl_list(listed.address, "Listed for a lab test")
    try:
        assert name == labnames.dnsbl_name(listed.address)
        assert answers(lab, name, "A") == [labnames.DNSBL_LISTED]
        assert answers(lab, name, "TXT") == ['"Listed for a lab test"']
        # The lookup a mail server on a host makes, through the host's own resolver.
        assert on_host(listed, f"getent hosts {name}").split()[0] == labnames.DNSBL_LISTED
        unlisted = labnames.dnsbl_name(netlab.vps_address(len(lab.hosts) + 1))
        assert ask(lab, unlisted, "A").rcode() == dns.rcode.NXDOMAIN
    finally:
        lab.dnsbl_delist(listed.address)
    assert ask(lab, name, "A").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.lab
def test_another_process_finds_the_peers_in_the_state_file(lab: Lab, lab_peers: Peers) -> None:
    attached = Lab.attach()
    assert attached.peers == lab_peers
    assert attached.leftovers()  # the running lab, peers included, is found
    running = peers.running()
    assert len(running) == len(peers.MODULES)
    assert all(f"peer pid {pid}" in attached.leftovers() for pid in running)


# --- labs of their own ---------------------------------------------------------------------


@pytest.mark.lab
def test_a_busy_peer_port_is_refused_before_anything_starts(
    lab_factory: Callable[[], Lab],
) -> None:
    lab = lab_factory()
    port = peers.PORTS["namecom"]
    with socket.create_server(("127.0.0.1", port)):
        with pytest.raises(LabError, match=f"port busy: namecom on 127.0.0.1:{port}"):
            lab.up(1)
        assert lab.leftovers() == []
        assert netlab.lab_namespaces() == []
