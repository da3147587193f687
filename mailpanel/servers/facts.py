"""What the panel knows about a server, read in one command: OS, resources, mail state."""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime
from typing import Any, TypeVar

import dns.asyncresolver
import dns.exception
import dns.resolver
import dns.reversename
from django.conf import settings

from mailpanel.servers.mailstack import TLS_CERT
from mailpanel.servers.ssh import Remote

# The file system of the mail spool, as `df` reports it: Use% is used / (used + available),
# rounded up, which is what an operator compares with on the host.
DISK = r"""
spool=/var/spool/postfix; [ -d "$spool" ] || spool=/
df -Pk "$spool" | awk 'NR==2 {u=$3*100/($3+$4); p=int(u); if (p<u) p++;
  print "disk_kb=" $2; print "disk_used_kb=" $3; print "disk_free_kb=" $4;
  print "disk_used_pct=" p; print "disk_mount=" $6}'
"""
# postqueue on a host whose Postfix is not configured yet logs a fatal error to the mail
# log; before provisioning there is no queue to count.
QUEUE = r"""
if [ -f /etc/postfix/main.cf ] && command -v postqueue >/dev/null 2>&1; then
  echo "queue=$(postqueue -j 2>/dev/null | wc -l)"
fi
"""

FACTS = (
    r"""
cert=$1
. /etc/os-release 2>/dev/null
echo "os_id=${ID:-unknown}"
echo "os_version=${VERSION_ID:-unknown}"
echo "os_name=${PRETTY_NAME:-unknown}"
echo "hostname=$(hostname -f 2>/dev/null || hostname)"
echo "cpus=$(nproc 2>/dev/null || echo 0)"
echo "cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
echo "mem_kb=$(sed -n 's/^MemTotal: *\([0-9]*\) kB/\1/p' /proc/meminfo)"
"""
    + DISK
    + r"""
echo "uptime_s=$(cut -d' ' -f1 /proc/uptime)"
echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
ip -o addr show scope global 2>/dev/null | awk '{split($4, a, "/"); print "ip=" a[1]}'
for p in postfix opendkim opendkim-tools dovecot-core certbot; do
  v=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' "$p" 2>/dev/null) && \
    case "$v" in ii*) echo "pkg_$p=${v#ii }";; esac
done
for s in postfix opendkim dovecot; do echo "svc_$s=$(systemctl is-active "$s" 2>/dev/null)"; done
"""
    + QUEUE
    + r"""
if [ -f "$cert" ]; then
  echo "cert_expires=$(openssl x509 -in "$cert" -noout -enddate 2>/dev/null | cut -d= -f2)"
  echo "cert_subject=$(openssl x509 -in "$cert" -noout -subject 2>/dev/null | sed 's/^subject=//')"
fi
"""
)


def parse_facts(text: str) -> dict[str, Any]:
    facts: dict[str, Any] = {"ips": [], "packages": {}, "services": {}}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if key == "ip":
            facts["ips"].append(value)
        elif key.startswith("pkg_"):
            facts["packages"][key[4:]] = value
        elif key.startswith("svc_"):
            facts["services"][key[4:]] = value or "unknown"
        else:
            facts[key] = value
    for number in (
        "cpus", "mem_kb", "disk_kb", "disk_used_kb", "disk_free_kb", "disk_used_pct", "queue"
    ):  # fmt: skip
        if str(facts.get(number, "")).isdigit():
            facts[number] = int(facts[number])
    facts["cert_expires_at"] = _cert_expiry(facts.get("cert_expires", ""))
    return facts


def _cert_expiry(text: str) -> str | None:
    try:
        when = datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)
    except ValueError:
        return None
    return when.isoformat()


async def gather(remote: Remote) -> dict[str, Any]:
    result = await remote.script(FACTS, TLS_CERT, name="gather-facts")
    facts = parse_facts(result.stdout)
    facts["ptr"] = await reverse_names(facts["ips"])
    return facts


ResolverT = TypeVar("ResolverT", bound=dns.resolver.BaseResolver)


def configured(res: ResolverT) -> ResolverT:
    """Lookups go to the configured resolvers (the lab DNS in tests), never the system's."""
    res.nameservers = list(settings.DNS_RESOLVERS)
    res.port = settings.DNS_RESOLVER_PORT
    res.lifetime = 5.0
    return res


def resolver() -> dns.asyncresolver.Resolver:
    return configured(dns.asyncresolver.Resolver(configure=False))


def sync_resolver() -> dns.resolver.Resolver:
    """For job code outside the SSH loop (building a server's desired state)."""
    return configured(dns.resolver.Resolver(configure=False))


async def reverse_names(addresses: list[str]) -> dict[str, str]:
    res = resolver()

    async def one(address: str) -> tuple[str, str]:
        try:
            ipaddress.ip_address(address)
            answer = await res.resolve(dns.reversename.from_address(address), "PTR")
            return address, str(answer[0]).rstrip(".")
        except (ValueError, dns.exception.DNSException):
            return address, ""

    return dict(await asyncio.gather(*(one(a) for a in addresses)))


# The fleet health check: five commands as one exec (uptime, disk, services, queue, cert).
HEALTH = (
    r"""
cert=$1
read -r up _ < /proc/uptime; echo "uptime_s=$up"
"""
    + DISK
    + r"""
systemctl is-active postfix opendkim dovecot 2>/dev/null | {
  for s in postfix opendkim dovecot; do read -r state; echo "svc_$s=$state"; done; }
"""
    + QUEUE
    + r"""
[ -f "$cert" ] && openssl x509 -in "$cert" -noout -enddate | sed 's/^notAfter=/cert_expires=/'
true
"""
)


async def health(remote: Remote) -> dict[str, Any]:
    result = await remote.script(HEALTH, TLS_CERT, name="health-check", quiet=True)
    facts = parse_facts(result.stdout)
    facts["healthy"] = all(state == "active" for state in facts["services"].values())
    return facts
