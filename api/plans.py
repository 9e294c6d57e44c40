"""POST /v1/plans: what a push would do, answered within the request by a worker that reads the
source and asks the targets with HEAD and GET only (the workers hold the credentials)."""

from __future__ import annotations

import time
from typing import Any

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from api.policy import verdicts
from api.problems import ApiProblem
from api.resources import authenticate
from api.schemas import PushCreateSchema
from api.schemas.plans import PlanArgsSchema, PlanSchema
from api.spec import problems
from api.state import state
from api.submission import checked_callback
from worker.facade import Job, PushRequest, plan_document, plan_job, verdict

plans = Blueprint(
    "plans", __name__, url_prefix="/v1/plans", description="Plans: what a push would do."
)
plans.before_request(authenticate)


def policy_verdicts(job: Job) -> list[dict[str, Any]]:
    """Every policy's verdict on the push: the caller's key's, then the apps file's."""
    return [
        verdict("key" if v.rule.startswith("key.") else "app", v.rule, v.allowed, v.reason)
        for v in verdicts(g.api_key, state().apps, job)
    ]


@plans.route("")
class Plans(MethodView):
    """Plans of pushes."""

    @plans.arguments(PushCreateSchema())
    @plans.arguments(PlanArgsSchema(), location="query")
    @plans.response(200, PlanSchema, description="The plan (`allowed` false: a rule refuses it).")
    @problems(
        plans,
        _400="Malformed JSON.",
        _403="A `callback_url` from a key without a webhook secret (as for a push).",
        _413="The body is larger than 64 KiB.",
        _422="Invalid request (the same rules as POST /v1/pushes).",
        _504="The registries did not answer in time; `learned` holds what was found.",
    )
    def post(self, push: PushRequest, args: dict[str, Any]) -> dict[str, Any]:
        """What POST /v1/pushes with this body would do, writing nothing anywhere."""
        return plan_for(push, float(args["wait"]))


def plan_for(push: PushRequest, wait: float) -> dict[str, Any]:
    """The plan of `push` for the caller's key, from a worker within `wait` seconds; the 504
    problem (with what was learned) after that."""
    st = state()
    job = plan_job(push, st.settings, owner=g.api_key.name, targets=st.targets, apps=st.apps)
    checked_callback(push)  # the body a push would refuse, a plan refuses too
    found = policy_verdicts(job)
    if not all(v["allowed"] for v in found):  # nothing is read for a refused push
        return {**plan_document(job, None), "allowed": False, "verdicts": found}
    exchange = st.store.plans()
    plan_id = exchange.offer(job, time.time() + wait)
    st.enqueue_plan(plan_id, wait)
    document = exchange.wait(plan_id, wait)
    if document is None:
        raise ApiProblem(
            504,
            "plan-timeout",
            "Plan not finished in time",
            f"the registries did not answer within {wait:g} s; `learned` holds what was "
            "found so far",
            learned=exchange.so_far(plan_id) or plan_document(job, None),
        )
    document["verdicts"] = found + document["verdicts"]
    return document
