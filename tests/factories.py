from __future__ import annotations

from allauth.account.models import EmailAddress
from django.utils import timezone
from factory.declarations import LazyFunction, Sequence
from factory.django import DjangoModelFactory
from factory.faker import Faker
from factory.helpers import post_generation

from mailpanel.accounts.models import User

DEFAULT_PASSWORD = "correct horse battery staple 42"


# factory_boy ships py.typed, but its declarations and decorators carry no annotations.
class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = Sequence(lambda n: f"user{n}@example.test")  # type: ignore[no-untyped-call]
    full_name = Faker("name")  # type: ignore[no-untyped-call]
    adult_confirmed_at = LazyFunction(timezone.now)  # type: ignore[no-untyped-call]

    @post_generation  # type: ignore[untyped-decorator]
    def password(user: User, create: bool, extracted: str | None, **kwargs: object) -> None:
        user.set_password(extracted or DEFAULT_PASSWORD)
        if create:
            user.save()
            EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
