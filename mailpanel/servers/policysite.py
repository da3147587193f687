"""The MTA-STS policy, served by the mail server itself at https://mta-sts.<domain>/.

A sender that finds a domain's `_mta-sts` TXT record fetches the policy from
`https://mta-sts.<domain>/.well-known/mta-sts.txt`, and only over a certificate it trusts
(RFC 8461 3.3). The panel therefore serves it only with an ACME certificate for that name,
which it can only get once `mta-sts.<domain>` points at the server in DNS. nginx serves the
one file per domain and nothing else; it listens on 443 only, so certbot keeps port 80 for
its HTTP-01 challenges.
"""

from __future__ import annotations

from dataclasses import dataclass

POLICY_DIR = "/var/www/mailpanel-mta-sts"  # nginx reads it as www-data: not under /etc/mailpanel
NGINX_CONF = "/etc/nginx/nginx.conf"
SITES_DIR = "/etc/nginx/mailpanel"
LIVE_DIR = "/etc/letsencrypt/live"


@dataclass(frozen=True)
class PolicySite:
    domain: str  # the sending domain, A-label
    policy: str  # the policy text, as the TXT record's id was made from
    resolves: bool = False  # mta-sts.<domain> pointed at this server when the panel looked
    ipv6: bool = False  # the server has an IPv6 address (nginx cannot listen on [::] without)

    @property
    def host(self) -> str:
        return f"mta-sts.{self.domain}"

    @property
    def policy_path(self) -> str:
        return f"{POLICY_DIR}/{self.domain}.txt"

    @property
    def cert_path(self) -> str:
        return f"{LIVE_DIR}/{self.host}/fullchain.pem"

    @property
    def key_path(self) -> str:
        return f"{LIVE_DIR}/{self.host}/privkey.pem"

    @property
    def conf_path(self) -> str:
        return f"{SITES_DIR}/{self.host}.conf"

    def nginx_site(self) -> str:
        return SITE.format(
            host=self.host,
            listen_v6="    listen [::]:443 ssl;\n" if self.ipv6 else "",
            cert=self.cert_path,
            key=self.key_path,
            policy=self.policy_path,
        )


def nginx_conf(sites: tuple[PolicySite, ...]) -> str:
    """The whole nginx.conf: the sites listed by name, so a site no longer wanted is gone."""
    includes = "".join(f"    include {s.conf_path};\n" for s in sites)
    return NGINX_MAIN.format(includes=includes or "    # no MTA-STS site has its certificate yet\n")


NGINX_MAIN = """\
# Written by MailPanel Pro: nginx serves MTA-STS policies only. Replaced at each converge.
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log syslog:server=unix:/dev/log warn;
events {{
    worker_connections 256;
}}
http {{
    server_tokens off;
    access_log off;
    default_type text/plain;
    ssl_protocols TLSv1.2 TLSv1.3;
{includes}}}
"""

SITE = """\
# Written by MailPanel Pro. Replaced at each converge.
server {{
    listen 443 ssl;
{listen_v6}    server_name {host};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    location = /.well-known/mta-sts.txt {{
        default_type text/plain;
        alias {policy};
    }}
    location / {{
        return 404;
    }}
}}
"""
