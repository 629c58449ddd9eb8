"""The scripted model's part for Codex's auto review ("guardian"): an agent that needs escalated
permissions, and a reviewer that answers the guardian's request the way the real review model must.

What Codex does (0.163 / 0.169, codex-rs `guardian/`, `ext/guardian-reviewer/`): with
`approval_policy = "on-request"` and `approvals_reviewer = "auto_review"` (the Python SDK's default
`ApprovalMode.auto_review`), an approval request goes to a guardian sub-agent instead of the user.
The agent asks for one by calling `exec_command` with `sandbox_permissions: "require_escalated"`.
The guardian is a second thread whose one request carries the policy prompt ("You are judging one
planned coding-agent action…"), then one user message: the transcript and the planned action as
JSON between `>>> APPROVAL REQUEST START` and `>>> APPROVAL REQUEST END`, with
`text.format = json_schema "codex_output_schema"`. Its final message must be strict JSON
(`parse_guardian_assessment`): `{"outcome": "allow"}` for a low-risk action, otherwise
`risk_level`, `user_authorization`, `outcome` and `rationale`. Text that is not JSON, or a failed
request, is a review failure and Codex fails closed. An allowed command runs outside the sandbox;
a denied one does not run, and the agent's tool result carries the rationale.

Both sides are chosen from the history, like the rest of the script:
- the last user message is an approval request → the reviewer's JSON: deny a planned command that
  deletes (`rm `), allow anything else;
- the user asks `ESCALATE_ASK <path>` (or `REMOVE_ASK <path>`) → the agent runs the command in its
  sandbox; when that fails it asks again with escalated permissions; then it reports every result.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

__all__ = ["APPROVED", "BLOCKED", "DENY_RATIONALE", "ESCALATE_ASK", "GREETING", "REMOVE_ASK", "REVIEW_ASK",
           "agent_move", "escalation", "review_answer"]

Json = dict[str, Any]

REVIEW_ASK = ">>> APPROVAL REQUEST START"  # Codex's guardian prompt, before the planned action
ESCALATE_ASK = "With escalated permissions if needed, write the greeting to "
REMOVE_ASK = "With escalated permissions if needed, remove "
GREETING = "hello-from-escalation"
JUSTIFICATION = "The sandbox refused a path outside the workspace; the user asked for it. Run it there?"
DENY_RATIONALE = "Deleting a file outside the workspace is destructive; the scripted review denies it."
APPROVED = "Done with escalated permissions. Results: "
BLOCKED = "Not done. Results: "
_PLANNED = re.compile(r"Planned action JSON:\s*(\{.*\})\s*>>> APPROVAL REQUEST END", re.S)


def review_answer(user_text: str) -> str | None:
    """The reviewer's final message for a guardian request, or None when it is not one."""
    if REVIEW_ASK not in user_text:
        return None
    found = _PLANNED.search(user_text)
    if not found:  # still JSON: a broken script should read as a denial with a reason, not a parse failure
        return orjson.dumps({"outcome": "deny", "risk_level": "high", "user_authorization": "unknown",
                             "rationale": "Script broken: no planned action JSON in the review request."}).decode()
    command = orjson.loads(found.group(1)).get("command")
    text = " ".join(map(str, command)) if isinstance(command, list) else str(command)
    if "rm " in text:
        return orjson.dumps({"risk_level": "high", "user_authorization": "low", "outcome": "deny",
                             "rationale": DENY_RATIONALE}).decode()
    return orjson.dumps({"outcome": "allow"}).decode()  # the short form the prompt asks for low risk


def escalation(user_text: str) -> str | None:
    """The command the user asks for, or None when the user asks for something else."""
    if ESCALATE_ASK in user_text:
        return f"echo {GREETING} > {_path_after(user_text, ESCALATE_ASK)}"
    if REMOVE_ASK in user_text:
        return f"rm {_path_after(user_text, REMOVE_ASK)}"
    return None


def _path_after(text: str, ask: str) -> str:
    return text.split(ask, 1)[1].split()[0].rstrip(".,;")


def _failed(result: str) -> bool:
    # Codex's exec_command output says "Process exited with code N"; a rejection has none.
    return "Process exited with code 0" not in result


def agent_move(command: str, results: list[str]) -> tuple[str, Json, str]:
    """(tool, args, text) of the agent's next step after `results` of this turn's calls."""
    if not results:
        return "exec_command", {"cmd": command}, ""
    if len(results) == 1 and _failed(results[0]):
        return "exec_command", {"cmd": command, "sandbox_permissions": "require_escalated",
                                "justification": JUSTIFICATION}, ""
    head = BLOCKED if _failed(results[-1]) else APPROVED
    return "", {}, head + " | ".join(r[:600] for r in results)
