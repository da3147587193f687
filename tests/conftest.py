"""Shared fixtures: users (an owner, another tenant, a third user with no access) and clients."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from huey.api import Huey
from huey.contrib.djhuey import HUEY

from mailpanel.accounts.models import User
from tests.factories import UserFactory

pytest_plugins = ["lab.pytest_plugin"] if importlib.util.find_spec("lab.pytest_plugin") else []


@pytest.fixture
def user(db: None) -> User:
    return UserFactory.create(email="owner@example.test", full_name="Olive Owner")


@pytest.fixture
def other_user(db: None) -> User:
    return UserFactory.create(email="other@example.test", full_name="Oscar Other")


@pytest.fixture
def third_user(db: None) -> User:
    return UserFactory.create(email="third@example.test", full_name="Thea Third")


@pytest.fixture
def owner_client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def other_client(other_user: User) -> Client:
    client = Client()
    client.force_login(other_user)
    return client


@pytest.fixture
def mx(tmp_path: Path, settings: Any) -> Iterator[Path]:
    """The lab's SMTP receiver on loopback, receiving what the panel sends (its log's path)."""
    from tests.helpers import lab_mail_receiver

    with lab_mail_receiver(tmp_path, settings) as db:
        yield db


@pytest.fixture
def queue() -> Iterator[Huey]:
    """The real configured queue (SQLite file, or Redis on the PostgreSQL run), emptied."""
    HUEY.flush()
    yield HUEY
    HUEY.flush()
