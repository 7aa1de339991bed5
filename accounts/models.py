from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q


class User(AbstractUser):
    """A person or service that owns skills; custom from day one so fields can be added.

    A *sub-user* (`parent` set) is an end user of a trusted service key's owner: a real
    owner of skills, namespaced under that owner so a service can never reach anyone
    else's users. `external_id` is the name the service uses for it.
    """

    parent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sub_users",
        help_text="The service account this sub-user belongs to.",
    )
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The service's own id for this sub-user."
    )

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "external_id"],
                condition=Q(parent__isnull=False),
                name="user_unique_external_id_per_parent",
            ),
        ]
