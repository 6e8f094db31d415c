"""The Trainer's L-BFGS: torch's strong-Wolfe L-BFGS, run in chunks of iterations so that metrics
and checkpoints are written between chunks, with the reason it stopped when a tolerance ends it."""

from __future__ import annotations

import torch

GRADIENT_TOLERANCE, CHANGE_TOLERANCE = 1e-12, 1e-16
LINE_SEARCH_EVALUATIONS = 26  # torch's strong-Wolfe search: its first evaluation and max_ls = 25 more


def make_lbfgs(params, history_size: int) -> torch.optim.LBFGS:
    """L-BFGS with a strong-Wolfe line search; ``lbfgs_chunk`` sets its iterations per step."""
    return torch.optim.LBFGS(params, lr=1.0, max_iter=1, history_size=history_size, line_search_fn="strong_wolfe",
                             tolerance_grad=GRADIENT_TOLERANCE, tolerance_change=CHANGE_TOLERANCE)


def lbfgs_chunk(lbfgs: torch.optim.LBFGS, closure, iterations: int) -> tuple[int, str]:
    """Up to ``iterations`` L-BFGS iterations in one step; returns (iterations done, why L-BFGS stopped
    itself: "" unless a tolerance was met). torch fixes max_eval (max_iter * 5 // 4) at construction and
    ends a step when the evaluations run out, so each chunk gets evaluations for all its iterations'
    line searches; if they still run out, the caller just goes on with the next chunk."""
    group = lbfgs.param_groups[0]
    group["max_iter"], group["max_eval"] = iterations, 1 + iterations * LINE_SEARCH_EVALUATIONS
    state = lbfgs.state[group["params"][0]]
    before = state.get("n_iter", 0)
    lbfgs.step(closure)
    ran = state["n_iter"] - before
    if ran == iterations:
        return ran, ""
    # which of torch's tests ended the step, checked again at the final point (one more evaluation)
    loss = float(closure().detach())
    gradient = max((float(p.grad.abs().max()) for p in group["params"] if p.grad is not None), default=0.0)
    if gradient <= group["tolerance_grad"]:
        return ran, f"L-BFGS converged: gradient below {group['tolerance_grad']:g}"
    tol, d, t = group["tolerance_change"], state["d"], state["t"]
    if (float(d.mul(t).abs().max()) <= tol or abs(loss - state["prev_loss"]) < tol
            or float(state["prev_flat_grad"].dot(d)) > -tol):
        return ran, f"L-BFGS made no further progress (change below {tol:g}, gradient {gradient:.1e})"
    return ran, ""
