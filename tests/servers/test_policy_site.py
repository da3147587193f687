"""What a server needs to serve MTA-STS policies: nginx, only with ACME, only certified sites."""

from __future__ import annotations

from mailpanel.servers.mailstack import Acme, MailStack
from mailpanel.servers.policysite import NGINX_CONF, PolicySite

ACME = Acme(directory="https://acme.test/dir")
SITES = (PolicySite("a.test", "version: STSv1\r\n"), PolicySite("b.test", "version: STSv1\r\n"))


def test_without_acme_no_policy_is_served_and_nginx_is_not_installed() -> None:
    stack = MailStack("mail.test", policy_sites=SITES)
    assert not stack.serves_policies
    assert "nginx" not in stack.packages and "nginx" not in stack.services
    assert stack.policy_files(SITES) == []


def test_nginx_lists_only_the_sites_whose_certificate_is_there() -> None:
    stack = MailStack("mail.test", acme=ACME, policy_sites=SITES)
    assert "nginx" in stack.packages and "nginx" in stack.services
    files = {f.path: f for f in stack.policy_files(SITES[:1])}
    main = files[NGINX_CONF].content
    assert f"include {SITES[0].conf_path};" in main and SITES[1].conf_path not in main
    assert SITES[1].conf_path not in files  # no site without its certificate
    assert {SITES[0].policy_path, SITES[1].policy_path} <= set(files)  # every policy is there
    site = files[SITES[0].conf_path].content
    assert "server_name mta-sts.a.test;" in site and "listen 443 ssl;" in site
    assert f"ssl_certificate {SITES[0].cert_path};" in site
    assert "location = /.well-known/mta-sts.txt" in site and "return 404;" in site
    assert "listen 80" not in main + site  # port 80 stays certbot's


def test_a_policy_sites_certificate_has_its_own_name_and_reloads_nginx() -> None:
    command = ACME.certbot_policy_site(SITES[0])
    assert command[command.index("--cert-name") + 1] == "mta-sts.a.test"
    assert command[command.index("-d") + 1] == "mta-sts.a.test"
    assert command[command.index("--deploy-hook") + 1] == "systemctl reload nginx"
    assert "--register-unsafely-without-email" in command


def test_an_acme_server_without_domains_keeps_nginx_serving_nothing() -> None:
    stack = MailStack("mail.test", acme=ACME)
    [main] = stack.policy_files(())
    assert main.path == NGINX_CONF and "include " not in main.content
    assert "server {" not in main.content  # nothing listens, not even on 80


def test_nginx_listens_on_ipv6_only_when_the_server_has_it() -> None:
    assert "listen [::]:443 ssl;" not in SITES[0].nginx_site()
    with_v6 = PolicySite("a.test", "version: STSv1\r\n", ipv6=True)
    assert "listen [::]:443 ssl;" in with_v6.nginx_site()
