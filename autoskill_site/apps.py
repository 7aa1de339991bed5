"""The admin app, configured to use AutoSkill's site (its index is the dashboard)."""

from django.contrib.admin.apps import AdminConfig


class AutoSkillAdminConfig(AdminConfig):
    """`django.contrib.admin` with `admin.site` built from AutoSkillAdminSite.

    Every `@admin.register` keeps working unchanged: the default site is swapped, not
    added beside it.
    """

    default_site = "autoskill_site.admin_site.AutoSkillAdminSite"

    def ready(self) -> None:
        super().ready()
        from autoskill_site import checks  # noqa: F401 - registers the deploy check
