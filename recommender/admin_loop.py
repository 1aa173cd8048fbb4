"""The contextual loop in the admin: offline evaluations (run one, promote behind the gate, the audit trail) and
model versions (tips served, apprentice agreement, the serving policy's learning curve). Registered by admin.py.

Reading needs staff status and the view permission; running an evaluation the add permission on offline
evaluations, promoting the add permission on policy switches. Both are POST forms with Django's CSRF check.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from recommender.admin_loop_pages import PromoteForm, RunForm, evaluations_context, models_context
from recommender.admin_tools import ViewOnlyAdmin
from recommender.models import PolicyEvaluation, PolicyModel
from recommender.selectors.evaluations import model_versions
from recommender.services.evaluations import policy_evaluation_queue, policy_promote_recorded
from tipengine.domain_errors import DomainError

EVALUATIONS = "admin:recommender_policyevaluation_changelist"


class LoopPageAdmin(ViewOnlyAdmin):
    """A model whose admin is one page of its own (the index links to it); nothing is added, edited or deleted."""

    def page(self, request: HttpRequest, template: str, title: str, context: dict[str, Any]) -> TemplateResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        every = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title}
        return TemplateResponse(request, template, {**every, **context})


@admin.register(PolicyEvaluation)
class PolicyEvaluationAdmin(LoopPageAdmin):
    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.evaluations_view), name="recommender_policyevaluation_changelist"),
            path("run/", view(self.run_view), name="recommender_policyevaluation_run"),
            path("promote/", view(self.promote_view), name="recommender_policy_promote"),
        ]

    def evaluations_view(
        self, request: HttpRequest, run_form: RunForm | None = None, promote_form: PromoteForm | None = None
    ) -> TemplateResponse:
        """The evaluations, newest first, with the run and promote forms and the switches."""
        context = evaluations_context(run_form=run_form, promote_form=promote_form)
        return self.page(request, "admin/recommender/evaluations.html", "Offline evaluations", context)

    def _allowed_post(self, request: HttpRequest, permission: str) -> HttpResponse | None:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(permission):
            raise PermissionDenied
        return None

    def run_view(self, request: HttpRequest) -> HttpResponse:
        """Queue an evaluation of the chosen version; its row shows queued, running, then done or failed."""
        refused = self._allowed_post(request, "recommender.add_policyevaluation")
        if refused:
            return refused
        form = RunForm(request.POST, versions=model_versions())
        if not form.is_valid():
            return self.evaluations_view(request, run_form=form)
        try:
            evaluation = policy_evaluation_queue(model_id=form.cleaned_data["model"], actor=request.user.get_username())
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Evaluation #{evaluation.pk} of model v{evaluation.model_id} is queued.")
        return HttpResponseRedirect(reverse(EVALUATIONS))

    def promote_view(self, request: HttpRequest) -> HttpResponse:
        """Switch serving to the chosen version behind the gate, on its fresh evaluation row when there is one (no
        evaluation in the request), else on an evaluation run now (`policy_promote_recorded`); a refusal says why."""
        refused = self._allowed_post(request, "recommender.add_policyswitch")
        if refused:
            return refused
        form = PromoteForm(request.POST, versions=model_versions())
        if not form.is_valid():
            return self.evaluations_view(request, promote_form=form)
        data = form.cleaned_data
        try:
            switch, evidence = policy_promote_recorded(
                model_id=data["model"],
                actor=request.user.get_username(),
                override=data["override"],
                reason=data["reason"].strip(),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            forced = " (gate overridden)" if switch.overridden else ""
            on = f"evaluation #{evidence.pk}" if evidence else "an evaluation run now"
            messages.success(request, f"Serving switched to contextual model v{switch.model_id}{forced}, on {on}.")
        return HttpResponseRedirect(reverse(EVALUATIONS))


@admin.register(PolicyModel)
class PolicyModelAdmin(LoopPageAdmin):
    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.models_view)
        return [path("", view, name="recommender_policymodel_changelist")]

    def models_view(self, request: HttpRequest) -> TemplateResponse:
        """Per version: tips served and apprentice agreement in the period; the serving policy's learning curve."""
        context = models_context(period=request.GET.get("period") or "")
        return self.page(request, "admin/recommender/policy_models.html", "Model versions", context)
