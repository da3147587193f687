"""Command line for the lab: ``python -m lab up|down|status|timing|image``.

``up`` leaves the lab running after it exits (each host runs in its own
process session); ``down`` tears it down from any process.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from lab import acme, images, labnames
from lab.lab import Lab, LabError, services_available
from lab.peers import PANEL_WEBHOOK, STRIPE_PLANS, ZONES


def _services(choice: str) -> bool:
    return services_available() if choice == "auto" else choice == "on"


def print_lab(lab: Lab) -> None:
    rows = [("HOST", "ADDRESS", "ROOT KEY (ssh -i)", "USER", "PASSWORD", "HOST KEY")]
    rows += [
        (h.name, h.address, str(h.root_key_path), h.user, h.password, h.host_key_fingerprint)
        for h in lab.hosts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip())
    services = "running" if lab.services else "not started"
    print(f"\nDNS {lab.dns_address}:53, SMTP {lab.mx_address}:25 ({services})")
    print(f"NAT to the package registry: {'on' if lab.nat else 'off'}; run dir {lab.run_dir}")
    if lab.hosts:
        first = lab.hosts[0]
        print(f"\nssh -i {first.root_key_path} root@{first.address}")
    if lab.services:
        print(
            f"\nTest mail: send it to {labnames.TEST_RECIPIENT} (any name @"
            f"{labnames.RECEIVER_DOMAIN}): its MX is the lab's SMTP receiver, which records each"
            f" message with its SPF, DKIM and DMARC verdicts in {lab.mail_db}."
        )
    if lab.peers is not None:
        print_peers(lab)


def acme_env(lab: Lab) -> dict[str, str]:
    """The ACME lines (the server's TLS option "ACME"), when pebble runs in the lab."""
    if not (lab.services and lab.acme_directory):
        return {}
    root = lab.run_dir / "acme" / "issuing-root.pem"
    try:
        root.write_text(acme.issuing_root(lab.acme_address, lab.acme_ca_path))
    except OSError:
        return {}
    return {
        "MAILPANEL_ACME_DIRECTORY": lab.acme_directory,
        "MAILPANEL_ACME_CA_BUNDLE": str(lab.acme_ca_path),
        "MAILPANEL_MTA_STS_CA_BUNDLE": str(root),
    }


def print_peers(lab: Lab) -> None:
    """The peers' URLs and lab accounts, and the settings that point the panel at them."""
    peers = lab.peers
    assert peers is not None

    def zones(name: str) -> str:
        return ", ".join(ZONES[name])

    print("\nPeers on loopback (lab accounts, new for each lab):")
    print(
        f"  Cloudflare    {peers.cloudflare_url}  token {peers.cloudflare_token}"
        f"  zones {zones('cloudflare')}"
    )
    print(
        f"  Name.com      {peers.namecom_url}  user {peers.namecom_username}"
        f"  token {peers.namecom_token}  zones {zones('namecom')}"
    )
    print(
        f"  OpenProvider  {peers.openprovider_url}  user {peers.openprovider_username}"
        f"  password {peers.openprovider_password}  zones {zones('openprovider')}"
    )
    print(f"  NVIDIA LLM    {peers.llm_url}  key {peers.llm_key}")
    prices = ", ".join(f"{key} {price}" for key, (price, _, _) in STRIPE_PLANS.items())
    print(
        f"  Stripe        {peers.stripe_url}  (localstripe {peers.localstripe_url})  prices "
        f"{prices}; checkout card 4242 4242 4242 4242; webhooks to {PANEL_WEBHOOK}"
    )
    print("\nStart the panel against the lab (from the checkout, as root or not):\n")
    for name, value in {**peers.env(lab.dns_address), **acme_env(lab)}.items():
        print(f"{name}={value} \\")
    print("make run")


def cmd_up(args: argparse.Namespace) -> None:
    lab = Lab()
    started = time.monotonic()
    lab.up(
        args.hosts,
        flavour=args.flavour,
        services=_services(args.services),
        nat=args.nat,
        peers=args.peers == "on",
    )
    print(f"lab up: {len(lab.hosts)} hosts in {time.monotonic() - started:.1f} s\n")
    print_lab(lab)


def cmd_down(args: argparse.Namespace) -> None:
    Lab().down()
    print("lab down: nothing left")


def cmd_status(args: argparse.Namespace) -> None:
    try:
        print_lab(Lab.attach())
    except LabError as exc:
        print(exc)
    left = Lab().leftovers()
    print("\nlab resources on this machine:", "none" if not left else "")
    for item in left:
        print("  " + item)


def cmd_timing(args: argparse.Namespace) -> None:
    """Time ``up`` for each host count from a warm image cache (built first, not timed)."""
    images.ensure_image(args.flavour)
    for count in (int(n) for n in args.hosts.split(",")):
        lab = Lab()
        lab.down()  # a clean start, not counted
        started = time.monotonic()
        try:
            lab.up(count, flavour=args.flavour, services=False, peers=False)
            up = time.monotonic() - started
        finally:
            down_started = time.monotonic()
            lab.down()
        down = time.monotonic() - down_started
        print(f"{count:4d} hosts: up {up:6.1f} s, down {down:5.1f} s", flush=True)


def cmd_image(args: argparse.Namespace) -> None:
    started = time.monotonic()
    rootfs = images.ensure_image(args.flavour)
    print(f"{args.flavour} image: {rootfs} ({time.monotonic() - started:.1f} s)")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = main.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the lab (cleans a stale one first)")
    up.add_argument("--hosts", type=int, default=1)
    up.add_argument("--flavour", choices=images.FLAVOURS, default="mail")
    up.add_argument("--services", choices=("auto", "on", "off"), default="auto")
    up.add_argument("--nat", action="store_true", help="open TCP 80/443 to the registry")
    up.add_argument(
        "--peers", choices=("on", "off"), default="on", help="provider fakes and LLM on loopback"
    )
    up.set_defaults(func=cmd_up)
    sub.add_parser("down", help="tear the lab down").set_defaults(func=cmd_down)
    sub.add_parser("status", help="show the lab and its resources").set_defaults(func=cmd_status)
    timing = sub.add_parser("timing", help="time starting N hosts from a warm cache")
    timing.add_argument("--hosts", default="1,10,30", help="comma-separated host counts")
    timing.add_argument("--flavour", choices=images.FLAVOURS, default="mail")
    timing.set_defaults(func=cmd_timing)
    image = sub.add_parser("image", help="build (or find) an image in the cache")
    image.add_argument("--flavour", choices=images.FLAVOURS, default="mail")
    image.set_defaults(func=cmd_image)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except LabError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
