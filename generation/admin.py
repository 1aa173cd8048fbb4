"""Admin: read-only view of users' candidate pools, for operators tracing a tip to its model and prompt."""

from django.contrib import admin

from generation.models import CandidatePool


@admin.register(CandidatePool)
class CandidatePoolAdmin(admin.ModelAdmin):
    list_display = ("user", "llm_model", "prompt_version", "generated_at", "expires_at", "attempts")
    list_filter = ("llm_model", "prompt_version")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    readonly_fields = [f.name for f in CandidatePool._meta.fields]

    def has_add_permission(self, request) -> bool:  # pools are generated, never typed in
        return False
