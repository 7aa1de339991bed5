from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    """A person or service that owns skills; custom from day one so fields can be added."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]
