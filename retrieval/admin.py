from django.contrib import admin

from retrieval.models import IndexGeneration, SkillEmbedding
from skills.admin import ReadOnlyAdmin


@admin.register(SkillEmbedding)
class SkillEmbeddingAdmin(ReadOnlyAdmin):
    list_display = ("skill", "signature", "dims", "content_hash", "updated_at")
    list_filter = ("signature",)
    search_fields = ("skill__id", "skill__name")
    list_select_related = ("skill",)
    exclude = ("vector",)


@admin.register(IndexGeneration)
class IndexGenerationAdmin(ReadOnlyAdmin):
    list_display = ("scope", "generation", "updated_at")
    search_fields = ("scope",)
