"""The desired state of a sending mail server, as files, packages and services.

Postfix sends and receives bounces (never an open relay: only authenticated users and
local processes may relay), OpenDKIM signs every domain the panel manages, Dovecot only
authenticates SMTP users for submission. Each file here is written whole by the panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mailpanel.servers.policysite import NGINX_CONF, PolicySite, nginx_conf

TLS_DIR = "/etc/mailpanel/tls"
TLS_CERT = f"{TLS_DIR}/fullchain.pem"
TLS_KEY = f"{TLS_DIR}/privkey.pem"
DKIM_DIR = "/etc/opendkim/keys"
SIGNING_TABLE = "/etc/opendkim/signing.table"
USERS_FILE = "/etc/dovecot/mailpanel-users"
PACKAGES = ("postfix", "opendkim", "opendkim-tools", "dovecot-core", "openssl", "ca-certificates")
ACME_CA_FILE = "/etc/mailpanel/acme-ca.pem"
ACME_DEPLOY_HOOK = "/etc/mailpanel/certbot-deploy.sh"
ACME_CERT_NAME = "mailpanel"
CERTBOT_DROPIN = "/etc/systemd/system/certbot.service.d/mailpanel.conf"
SERVICES = ("opendkim", "dovecot", "postfix")


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str
    mode: str = "0644"
    owner: str = "root:root"
    secret: bool = False
    # Services to reload (or restart) when this file changes.
    reload: tuple[str, ...] = ()


@dataclass(frozen=True)
class SigningDomain:
    name: str
    selector: str
    private_key_pem: str = field(repr=False)


@dataclass(frozen=True)
class Acme:
    directory: str
    ca_bundle: str = ""  # PEM of a private ACME CA's TLS root, when it is not public

    def files(self) -> list[ManagedFile]:
        files = [ManagedFile(ACME_DEPLOY_HOOK, DEPLOY_HOOK, mode="0755")]
        if self.ca_bundle:
            files.append(ManagedFile(ACME_CA_FILE, self.ca_bundle))
            # Renewals run from certbot.timer: they need to trust the same CA.
            dropin = f"[Service]\nEnvironment=REQUESTS_CA_BUNDLE={ACME_CA_FILE}\n"
            files.append(ManagedFile(CERTBOT_DROPIN, dropin, reload=("systemd",)))
        return files

    def certbot(self, hostname: str) -> list[str]:
        return self._certonly(ACME_CERT_NAME, hostname, ACME_DEPLOY_HOOK)

    def certbot_policy_site(self, site: PolicySite) -> list[str]:
        return self._certonly(site.host, site.host, "systemctl reload nginx")

    def _certonly(self, cert_name: str, name: str, deploy_hook: str) -> list[str]:
        env = ["env", f"REQUESTS_CA_BUNDLE={ACME_CA_FILE}"] if self.ca_bundle else []
        return [
            *env,
            "certbot",
            "certonly",
            "--standalone",
            "--non-interactive",
            "--agree-tos",
            # The owner's email address is not sent to the certificate authority.
            "--register-unsafely-without-email",
            "--server",
            self.directory,
            "--cert-name",
            cert_name,
            "-d",
            name,
            "--deploy-hook",
            deploy_hook,
        ]


@dataclass(frozen=True)
class MailStack:
    hostname: str
    domains: tuple[SigningDomain, ...] = ()
    # (address, "{ARGON2ID}$argon2id$...") pairs for SMTP AUTH.
    users: tuple[tuple[str, str], ...] = ()
    smtps: bool = True
    message_size_limit: int = 26214400
    acme: Acme | None = None
    # MTA-STS policies to serve over HTTPS (ACME only: senders need a trusted certificate).
    policy_sites: tuple[PolicySite, ...] = ()

    @property
    def serves_policies(self) -> bool:
        """Every ACME server runs nginx for the policies, also with none (so a policy of a
        domain that left is no longer served)."""
        return self.acme is not None

    @property
    def packages(self) -> tuple[str, ...]:
        return (*PACKAGES, "certbot", "nginx") if self.acme else PACKAGES

    @property
    def services(self) -> tuple[str, ...]:
        return (*SERVICES, *(("nginx",) if self.serves_policies else ()))

    def policy_files(self, certified: tuple[PolicySite, ...]) -> list[ManagedFile]:
        """The policies, and nginx serving those whose certificate is on the server."""
        if not self.serves_policies:
            return []
        return [
            *(ManagedFile(s.policy_path, s.policy) for s in self.policy_sites),
            *(ManagedFile(s.conf_path, s.nginx_site(), reload=("nginx",)) for s in certified),
            ManagedFile(NGINX_CONF, nginx_conf(certified), reload=("nginx",)),
        ]

    def files(self) -> list[ManagedFile]:
        return [
            ManagedFile("/etc/mailname", self.hostname + "\n", reload=("postfix",)),
            ManagedFile("/etc/postfix/main.cf", self.main_cf(), reload=("postfix",)),
            ManagedFile("/etc/postfix/master.cf", self.master_cf(), reload=("postfix",)),
            ManagedFile("/etc/opendkim.conf", OPENDKIM_CONF, reload=("opendkim",)),
            ManagedFile("/etc/opendkim/key.table", self.key_table(), reload=("opendkim",)),
            ManagedFile(SIGNING_TABLE, self.signing_table(), reload=("opendkim",)),
            ManagedFile(
                "/etc/opendkim/trusted.hosts", "127.0.0.1\n::1\nlocalhost\n", reload=("opendkim",)
            ),
            *self.key_files(),
            ManagedFile("/etc/dovecot/dovecot.conf", self.dovecot_conf(), reload=("dovecot",)),
            ManagedFile(
                USERS_FILE, self.users_file(), mode="0640", owner="root:dovecot", secret=True
            ),
            *(self.acme.files() if self.acme else []),
        ]

    def key_files(self) -> list[ManagedFile]:
        return [
            ManagedFile(
                f"{DKIM_DIR}/{d.name}.{d.selector}.private",
                d.private_key_pem if d.private_key_pem.endswith("\n") else d.private_key_pem + "\n",
                mode="0600",
                owner="opendkim:opendkim",
                secret=True,
                reload=("opendkim",),
            )
            for d in self.domains
        ]

    def key_table(self) -> str:
        lines = [
            f"{d.selector}._domainkey.{d.name} {d.name}:{d.selector}:"
            f"{DKIM_DIR}/{d.name}.{d.selector}.private"
            for d in self.domains
        ]
        return "".join(line + "\n" for line in lines) or "# no domains yet\n"

    def signing_table(self) -> str:
        # refile: "*@domain" signs mail from that domain (and only that domain).
        lines = [f"*@{d.name} {d.selector}._domainkey.{d.name}" for d in self.domains]
        return "".join(line + "\n" for line in lines) or "# no domains yet\n"

    def users_file(self) -> str:
        return "".join(f"{address}:{hashed}\n" for address, hashed in self.users)

    def main_cf(self) -> str:
        return MAIN_CF.format(
            hostname=self.hostname,
            cert=TLS_CERT,
            key=TLS_KEY,
            size=self.message_size_limit,
        )

    def master_cf(self) -> str:
        return MASTER_CF + (SMTPS_SERVICE if self.smtps else "")

    def dovecot_conf(self) -> str:
        return DOVECOT_CONF.format(cert=TLS_CERT, key=TLS_KEY, users=USERS_FILE)


MAIN_CF = """\
# Written by MailPanel Pro. Changes made here are replaced at the next converge.
compatibility_level = 3.6
myhostname = {hostname}
myorigin = /etc/mailname
mydestination = $myhostname, localhost.localdomain, localhost
mynetworks = 127.0.0.0/8 [::1]/128
inet_interfaces = all
inet_protocols = all
relay_domains =
alias_maps = hash:/etc/aliases
alias_database = hash:/etc/aliases
recipient_delimiter = +
biff = no
append_dot_mydomain = no
readme_directory = no
disable_vrfy_command = yes
smtpd_banner = $myhostname ESMTP
smtpd_helo_required = yes
message_size_limit = {size}
mailbox_size_limit = 0

# Never an open relay: only local processes and authenticated users may relay.
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
  permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination

# Rates that keep one client from flooding the server.
smtpd_client_connection_rate_limit = 60
smtpd_client_message_rate_limit = 120
smtpd_client_recipient_rate_limit = 600
anvil_rate_time_unit = 60s

# TLS on both sides.
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tls_CApath = /etc/ssl/certs

# SMTP AUTH through Dovecot, offered only on submission (see master.cf).
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = no

# DKIM signing.
milter_default_action = accept
milter_protocol = 6
smtpd_milters = inet:127.0.0.1:8891
non_smtpd_milters = $smtpd_milters
"""

MASTER_CF = """\
# Written by MailPanel Pro. Changes made here are replaced at the next converge.
smtp      inet  n       -       y       -       -       smtpd
submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
pickup    unix  n       -       y       60      1       pickup
cleanup   unix  n       -       y       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       y       1000?   1       tlsmgr
rewrite   unix  -       -       y       -       -       trivial-rewrite
bounce    unix  -       -       y       -       0       bounce
defer     unix  -       -       y       -       0       bounce
trace     unix  -       -       y       -       0       bounce
verify    unix  -       -       y       -       1       verify
flush     unix  n       -       y       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       y       -       -       smtp
relay     unix  -       -       y       -       -       smtp
  -o syslog_name=postfix/$service_name
showq     unix  n       -       y       -       -       showq
error     unix  -       -       y       -       -       error
retry     unix  -       -       y       -       -       error
discard   unix  -       -       y       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       y       -       -       lmtp
anvil     unix  -       -       y       -       1       anvil
scache    unix  -       -       y       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

SMTPS_SERVICE = """\
smtps     inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""

OPENDKIM_CONF = """\
# Written by MailPanel Pro. Changes made here are replaced at the next converge.
Syslog                  yes
SyslogSuccess           yes
UMask                   007
UserID                  opendkim
PidFile                 /run/opendkim/opendkim.pid
Socket                  inet:8891@127.0.0.1
Mode                    s
Canonicalization        relaxed/simple
OversignHeaders         From
KeyTable                refile:/etc/opendkim/key.table
SigningTable            refile:/etc/opendkim/signing.table
InternalHosts           refile:/etc/opendkim/trusted.hosts
ExternalIgnoreList      refile:/etc/opendkim/trusted.hosts
"""

DOVECOT_CONF = """\
# Written by MailPanel Pro. Dovecot here only authenticates SMTP submission users:
# no IMAP or POP listeners, and no system (PAM) accounts.
protocols =
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
log_path = syslog
passdb {{
  driver = passwd-file
  args = scheme=ARGON2ID username_format=%Lu {users}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener /var/spool/postfix/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""

DEPLOY_HOOK = f"""#!/bin/sh
# Written by MailPanel Pro: certbot runs this after it obtains or renews the certificate.
set -eu
live=/etc/letsencrypt/live/{ACME_CERT_NAME}
install -m 0644 "$live/fullchain.pem" {TLS_CERT}.new
install -m 0600 "$live/privkey.pem" {TLS_KEY}.new
mv -f {TLS_KEY}.new {TLS_KEY}
mv -f {TLS_CERT}.new {TLS_CERT}
systemctl reload postfix || true
systemctl restart dovecot || true
"""
