"""Fast path of the fixed-point solver: the xi-parametrised curve evaluated many xi at a time.

Theory: book/theory/fixed_point.md. Same equations and outputs as :mod:`qnn.longtime.equations`, but every step
works on arrays: the spectral laws of all visited ``xi`` are built together (:func:`qnn.spectra.batch.law_batch`),
the roots ``q`` of ``F(q; xi)`` at all of them are bracketed on one q-scan and polished by one vectorised safeguarded
Newton iteration, and the final solve is a Newton iteration in ``(log xi, q)`` on the two equations

    F(q; xi) = 1 - lambda/q - 2 xi I/(MSE + Delta/2) = 0,        log alpha(xi, q) = log alpha_target,

with ``alpha(xi, q) = (MSE + Delta/2)/(2 xi)`` explicit (the ``q``-derivatives are exact, the ``xi``-derivatives
finite differences over a second law at ``xi (1 + 1e-6)``; ``q = 0`` on the non-interpolating branch leaves one
equation in ``log xi``). Along a curve all requested ``alpha`` are solved together, from guesses read off one traced
curve; near a fold of ``q(xi)`` the two-dimensional iteration stays regular (the curve is smooth in ``(xi, q)``).

Points are dicts as in :mod:`qnn.longtime.equations`. A point the fast path cannot converge is returned with
``converged = False`` by the callers' fallback to :mod:`qnn.longtime.reference` (counted in :data:`STATS`).
"""
from __future__ import annotations

import math

import numpy as np

from ..conventions import Setting
from .equations import XI_MAX, XI_MIN, initial_xi_range
from ..spectra.batch import LawBatch, law_batch

__all__ = ["trace", "solve_point", "solve_curve", "polish", "polish_branch", "Unresolved", "STATS", "BRANCHES"]

BRANCHES = ("regularised", "interpolating", "non_interpolating")
_REG, _INT, _NON = 0, 1, 2
_N_Q = 48                 # q-scan points per xi (the reference scan: the same roots are bracketed)
_H = 1e-6                 # relative xi step of the finite-difference derivatives
_N_TRACE = 16             # xi of the coarse trace of one fixed point
#: Counts of fast solves and of fallbacks to the reference path (for benchmarks).
STATS = {"points": 0, "fallbacks": 0}


class _Laws:
    """A :class:`~qnn.spectra.batch.LawBatch` with the rank-cap quantile ``omega`` of each law."""

    def __init__(self, kappa: float, kappa_star: float, xi: np.ndarray) -> None:
        self.kappa = kappa
        self.batch: LawBatch = law_batch(kappa_star, xi)
        self.xi = self.batch.xi
        n = self.xi.size
        self.omega = (np.full(n, -np.inf) if kappa >= 1.0
                      else self.batch.upper_quantile(np.arange(n), kappa))

    def evaluate(self, law: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
        """I, MSE, rank and their q-derivatives at the pairs ``(xi[law], q)`` (see
        :func:`qnn.longtime.equations.evaluate`; MSE in the cancellation-free form)."""
        xi, omega = self.xi[law], self.omega[law]
        cut = np.maximum(q, omega)
        head, tail = self.batch.split(law, cut)
        a0, ah, ahx = tail[0], tail[3], tail[4]
        dof = ahx - q * ah
        mse = head[2] - xi + q * q * a0 + 4.0 * xi * dof
        return {"dof": dof, "mse": mse, "rank": a0, "cut": cut, "omega": omega, "ddof": -ah,
                "dmse": 2.0 * q * a0 - 4.0 * xi * ah}


def _f(laws: _Laws, law: np.ndarray, q: np.ndarray, lam: float, noise: float):
    """``F(q; xi)`` and ``dF/dq`` at fixed ``xi``."""
    ev = laws.evaluate(law, q)
    xi = laws.xi[law]
    m = ev["mse"] + noise / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        reg = lam / q if lam > 0 else 0.0
        f = 1.0 - reg - 2.0 * xi * ev["dof"] / m
        df = (lam / (q * q) if lam > 0 else 0.0) - 2.0 * xi * (ev["ddof"] * m - ev["dof"] * ev["dmse"]) / (m * m)
    return f, df


def _q_roots(laws: _Laws, lam: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """All roots ``q > 0`` of ``F(q; xi)`` at every law: ``(law index, q)`` arrays."""
    n = laws.xi.size
    top = laws.batch.top
    s = np.linspace(0.0, 1.0, _N_Q)
    if lam > 0:
        lo, hi = np.full(n, lam), np.maximum(lam, top) * (1.0 + 1e-12)
    else:
        lo, hi = top * 1e-9, top.copy()
    empty = hi <= lo * (1.0 + 1e-12)                    # lam above the spectrum: S_hat = 0, q = lam
    grid = np.exp(np.log(lo)[:, None] + s * np.log(np.where(empty, 2.0, hi / lo))[:, None])   # (n, N_Q)
    law = np.repeat(np.arange(n), _N_Q)
    vals = _f(laws, law, grid.ravel(), lam, noise)[0].reshape(n, _N_Q)
    i, j = np.nonzero((np.sign(vals[:, :-1]) * np.sign(vals[:, 1:]) < 0) & ~empty[:, None])
    q = _bracketed_newton(laws, i, grid[i, j], grid[i, j + 1], vals[i, j], vals[i, j + 1], lam, noise)
    extra = np.nonzero(empty)[0] if lam > 0 else np.zeros(0, dtype=int)
    return np.concatenate([i, extra]), np.concatenate([q, np.full(extra.size, lam)])


def _bracketed_newton(laws: _Laws, law, lo, hi, f_lo, f_hi, lam: float, noise: float,
                      rtol: float = 1e-11, max_iter: int = 60) -> np.ndarray:
    """Roots of ``F(.; xi[law])`` in the brackets ``[lo, hi]``: Newton steps, bisection when a step leaves the
    bracket or every fourth step if the bracket did not halve (vectorised :func:`bracketed_newton`)."""
    x = lo - f_lo * (hi - lo) / (f_hi - f_lo)
    done = np.zeros(x.size, dtype=bool)
    width = hi - lo
    for it in range(max_iter):
        act = np.nonzero(~done)[0]
        if act.size == 0:
            break
        fx, dfx = _f(laws, law[act], x[act], lam, noise)
        same = (fx < 0) == (f_lo[act] < 0)
        lo[act] = np.where(same, x[act], lo[act])
        f_lo[act] = np.where(same, fx, f_lo[act])
        hi[act] = np.where(same, hi[act], x[act])
        with np.errstate(divide="ignore", invalid="ignore"):
            x_new = np.where((dfx != 0) & np.isfinite(dfx), x[act] - fx / dfx, np.nan)
        slow = (it % 4 == 3) & (hi[act] - lo[act] > 0.5 * width[act])
        bad = ~((lo[act] < x_new) & (x_new < hi[act])) | slow
        x_new = np.where(bad, 0.5 * (lo[act] + hi[act]), x_new)
        if it % 4 == 3:
            width[act] = hi[act] - lo[act]
        fin = ((np.abs(fx) <= 1e-14) | (hi[act] - lo[act] <= rtol * np.maximum(np.abs(lo[act]), np.abs(hi[act])))
               | (np.abs(x_new - x[act]) <= rtol * np.abs(x[act])))
        x[act] = np.where(np.abs(fx) <= 1e-14, x[act], x_new)
        done[act] = fin
    return x


def _outputs(laws: _Laws, law: np.ndarray, q: np.ndarray, branch: np.ndarray, lam: float,
             noise: float) -> dict[str, np.ndarray]:
    """All outputs at the curve points ``(xi[law], q)`` (see :func:`qnn.longtime.equations.curve_point`)."""
    ev = laws.evaluate(law, q)
    xi = laws.xi[law]
    mse, dof = ev["mse"], ev["dof"]
    alpha = (mse + noise / 2.0) / (2.0 * xi)
    with np.errstate(divide="ignore", invalid="ignore"):
        chi = np.where(branch == _REG, lam / q, np.where(branch == _INT, 0.0, 1.0 - dof / alpha))
    loss = (2.0 * mse + noise) * chi * chi / 4.0
    ise = ((2.0 * mse + noise) * chi * chi + noise * (1.0 - 2.0 * chi)) / 4.0
    return dict(alpha=alpha, mse=mse, loss=loss, ise=ise, xi=xi, q=q, chi=chi, rank=ev["rank"], dof=dof,
                cut=ev["cut"], omega=ev["omega"], branch=branch, law=law)


def trace(kappa: float, kappa_star: float, lam: float, noise: float, xis: np.ndarray) -> dict[str, np.ndarray]:
    """Every curve point at every ``xi`` (arrays), ordered along the curve (increasing ``(q, xi)``)."""
    laws = _Laws(kappa, kappa_star, np.asarray(xis, dtype=float))
    law, q = _q_roots(laws, lam, noise)
    branch = np.full(law.size, _REG if lam > 0 else _INT)
    if lam == 0:
        n = laws.xi.size
        zero = _outputs(laws, np.arange(n), np.zeros(n), np.full(n, _NON), 0.0, noise)
        keep = zero["chi"] > 0
        law, q = np.concatenate([np.arange(n)[keep], law]), np.concatenate([np.zeros(keep.sum()), q])
        branch = np.concatenate([np.full(keep.sum(), _NON), branch])
    pts = _outputs(laws, law, q, branch, lam, noise)
    ok = np.isfinite(pts["alpha"]) & (pts["alpha"] > 0)
    order = np.lexsort((pts["xi"][ok], pts["q"][ok]))
    pts = {k: v[ok][order] for k, v in pts.items()}
    pts["converged"] = laws.batch.converged[pts.pop("law")]
    return pts


def _merge(a: dict, b: dict) -> dict:
    out = {k: np.concatenate([a[k], b[k]]) for k in a}
    order = np.lexsort((out["xi"], out["q"]))
    return {k: v[order] for k, v in out.items()}


def refine(kappa: float, kappa_star: float, lam: float, noise: float, pts: dict, max_gap: float,
           rounds: int = 6) -> dict:
    """Insert ``xi`` where neighbouring points are far apart (``|log alpha ratio| + |log xi ratio|/4``): the
    geometric mean between points of different ``xi``, a widened scan around a fold (same ``xi``)."""
    for _ in range(rounds):
        xi, al = pts["xi"], pts["alpha"]
        gap = np.abs(np.diff(np.log(al))) + 0.25 * np.abs(np.diff(np.log(xi)))
        far = np.nonzero(gap > max_gap)[0]
        if far.size == 0:
            break
        a, b = xi[far], xi[far + 1]
        new = [np.sqrt(a * b)[a != b]]
        fold = a == b
        if np.any(fold):
            new.append((a[fold][:, None] * np.array([1 / 1.3, 1 / 1.1, 1.1, 1.3])).ravel())
        new = np.unique(np.clip(np.concatenate(new), XI_MIN, XI_MAX))
        new = new[~np.isin(new, xi)]
        if new.size == 0:
            break
        pts = _merge(pts, trace(kappa, kappa_star, lam, noise, new))
    return pts


def _residuals(laws: _Laws, law: np.ndarray, q: np.ndarray, branch: np.ndarray, target: np.ndarray, lam: float,
               noise: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """The two equations at fixed alpha, as the reference solver states them (relative forms)."""
    p = _outputs(laws, law, q, branch, lam, noise)
    r1 = np.log(2.0 * target * p["xi"]) - np.log(np.maximum(p["mse"] + noise / 2.0, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(branch == _REG, 1.0 - lam / q - p["dof"] / target,
                      np.where(branch == _INT, 1.0 - p["dof"] / target, 0.0))
    return r1, r2, p


def _equations(laws: _Laws, law: np.ndarray, q: np.ndarray, branch: np.ndarray, target: np.ndarray, lam: float,
               noise: float) -> tuple[np.ndarray, ...]:
    """``F``, ``dF/dq``, ``g = log(alpha/target)``, ``dg/dq`` at fixed ``xi`` (``F = 0`` on the q = 0 branch)."""
    ev = laws.evaluate(law, q)
    xi = laws.xi[law]
    m = ev["mse"] + noise / 2.0
    lamv = np.where(branch == _REG, lam, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        reg = np.where(lamv > 0, lamv / q, 0.0)
        f = np.where(branch == _NON, 0.0, 1.0 - reg - 2.0 * xi * ev["dof"] / m)
        df = (np.where(lamv > 0, lamv / (q * q), 0.0)
              - 2.0 * xi * (ev["ddof"] * m - ev["dof"] * ev["dmse"]) / (m * m))
        g = np.log(m / (2.0 * xi * target))
    return f, df, g, ev["dmse"] / m


def polish(kappa: float, kappa_star: float, lam: float, noise: float, target: np.ndarray, xi0: np.ndarray,
           q0: np.ndarray, branch: np.ndarray, max_iter: int = 14) -> tuple[dict, np.ndarray]:
    """Newton in ``(log xi, q)`` (``log xi`` only on the q = 0 branch) for every target ``alpha`` at once, from the
    guesses ``(xi0, q0)``; returns the last evaluated points and their residuals (the reference solver's form)."""
    m = target.size
    lx, q = np.log(xi0).astype(float), np.where(branch == _NON, 0.0, q0).astype(float)
    best: dict | None = None
    res = np.full(m, np.inf)
    act = np.arange(m)
    dl = math.log1p(_H)
    for _ in range(max_iter):
        if act.size == 0:
            break
        xi = np.exp(lx[act])
        laws = _Laws(kappa, kappa_star, np.concatenate([xi, xi * (1.0 + _H)]))
        k, br, tg = act.size, branch[act], target[act]
        law0, law1 = np.arange(k), np.arange(k, 2 * k)
        r1, r2, p = _residuals(laws, law0, q[act], br, tg, lam, noise)
        p["converged"] = laws.batch.converged[p.pop("law")]
        best = _store(best, p, act, m)
        res[act] = np.where(np.isfinite(r1) & np.isfinite(r2), np.maximum(np.abs(r1), np.abs(r2)), np.inf)
        f0, dfq, g0, dgq = _equations(laws, law0, q[act], br, tg, lam, noise)
        f1, _, g1, _ = _equations(laws, law1, q[act], br, tg, lam, noise)
        dfx, dgx = (f1 - f0) / dl, (g1 - g0) / dl
        with np.errstate(divide="ignore", invalid="ignore"):
            det = dfx * dgq - dfq * dgx
            step_x = np.where(br == _NON, -g0 / dgx, (-f0 * dgq + dfq * g0) / det)
            step_q = np.where(br == _NON, 0.0, (-dfx * g0 + dgx * f0) / det)
        step_x = np.clip(np.nan_to_num(step_x, nan=0.0), -0.5, 0.5)
        step_q = np.nan_to_num(step_q, nan=0.0)
        q_new = q[act] + step_q
        floor = np.where(br == _REG, lam, 0.0)
        q_new = np.where((br != _NON) & (q_new <= floor), 0.5 * (q[act] + floor), q_new)
        tiny = (np.abs(step_x) <= 1e-13) & (np.abs(step_q) <= 1e-13 * np.maximum(q[act], 1e-300))
        done = (res[act] <= 1e-12) | tiny
        lx[act] = np.clip(lx[act] + np.where(done, 0.0, step_x), math.log(XI_MIN), math.log(XI_MAX))
        q[act] = np.where(done, q[act], q_new)
        act = act[~done]
    return best, res


def _q_newton(laws: _Laws, law: np.ndarray, q: np.ndarray, branch: np.ndarray, lam: float, noise: float,
              steps: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The root of ``F(.; xi)`` next to ``q`` at every law (Newton, kept above ``lambda``; q = 0 branch as is):
    ``(q, |F|)``."""
    q = q.copy()
    floor = np.where(branch == _REG, lam, 0.0)
    f = np.zeros(q.size)
    act = np.nonzero(branch != _NON)[0]
    for _ in range(steps):
        if act.size == 0:
            break
        ff, df, _, _ = _equations(laws, law[act], q[act], branch[act], np.ones(act.size), lam, noise)
        f[act] = ff
        with np.errstate(divide="ignore", invalid="ignore"):
            new = q[act] - ff / df
        new = np.where(np.isfinite(new) & (new > floor[act]), new, 0.5 * (q[act] + floor[act]))
        small = np.abs(new - q[act]) <= 1e-13 * q[act]
        q[act] = new
        act = act[~small]
    return q, np.abs(f)


def polish_branch(kappa: float, kappa_star: float, lam: float, noise: float, target: np.ndarray, xi0: np.ndarray,
                  q0: np.ndarray, branch: np.ndarray, slope: np.ndarray, passes: int = 5) -> tuple[dict, np.ndarray]:
    """Secant iteration in ``log xi`` on ``log alpha = log target`` along the local branch, one law per target and
    pass (the cut ``q`` follows by Newton at fixed ``xi``); ``slope`` is the starting ``d log alpha / d log xi``.
    Returns the last evaluated points and their residuals (``inf`` where the branch was lost)."""
    m = target.size
    lx, q = np.log(xi0).astype(float), np.where(branch == _NON, 0.0, q0).astype(float)
    prev_lx, prev_g = np.full(m, np.nan), np.full(m, np.nan)
    best: dict | None = None
    res = np.full(m, np.inf)
    act = np.arange(m)
    for _ in range(passes):
        if act.size == 0:
            break
        laws = _Laws(kappa, kappa_star, np.exp(lx[act]))
        law = np.arange(act.size)
        q_new, fres = _q_newton(laws, law, q[act], branch[act], lam, noise)
        lost = (branch[act] != _NON) & ((np.abs(np.log(np.maximum(q_new, 1e-300) / np.maximum(q[act], 1e-300))) > 0.5)
                                        | ~(fres <= 1e-9))
        r1, r2, p = _residuals(laws, law, q_new, branch[act], target[act], lam, noise)
        p["converged"] = laws.batch.converged[p.pop("law")]
        best = _store(best, p, act, m)
        res[act] = np.where(lost, np.inf, np.maximum(np.abs(r1), np.abs(r2)))
        g = -r1                                          # log(alpha / target)
        with np.errstate(divide="ignore", invalid="ignore"):
            sec = (g - prev_g[act]) / (lx[act] - prev_lx[act])
        sl = np.where(np.isfinite(sec) & (sec != 0), sec, slope[act])
        prev_lx[act], prev_g[act] = lx[act], g
        q[act] = q_new
        step = np.clip(-g / sl, -0.5, 0.5)
        done = (res[act] <= 1e-11) | lost | ~np.isfinite(step)
        lx[act] = lx[act] + np.where(done, 0.0, step)
        act = act[~done]
    return best, res


def _store(best: dict | None, p: dict, act: np.ndarray, m: int) -> dict:
    """Write the points ``p`` (for the indices ``act``) into the arrays ``best`` (created on first use)."""
    if best is None:
        best = {key: np.full(m, np.nan) if np.asarray(v).dtype.kind == "f" else np.zeros(m, dtype=np.asarray(v).dtype)
                for key, v in p.items()}
    for key, v in p.items():
        best[key][act] = v
    return best


def _bracket(setting: Setting, a_min: float | None = None, n: int = _N_TRACE) -> tuple[dict, int | None]:
    """A coarse traced curve (``n`` xi, then widened) whose alpha range covers ``[a_min, setting.alpha]`` (default
    ``a_min = setting.alpha``), and the index bracketing ``setting.alpha``."""
    k, ks, lam, noise, target = setting.kappa, setting.kappa_star, setting.lam, setting.noise, setting.alpha
    a_min = target if a_min is None else a_min
    lo = initial_xi_range(setting)[0]
    hi = initial_xi_range(setting.replace(alpha=a_min))[1]
    pts = trace(k, ks, lam, noise, np.geomspace(lo, hi, n))
    for _ in range(40):
        al = pts["alpha"]
        if al.size and al.max() < target and lo > XI_MIN:
            lo_new = max(XI_MIN, lo / 30.0)
            pts, lo = _merge(pts, trace(k, ks, lam, noise, np.geomspace(lo_new, lo, 5)[:-1])), lo_new
        elif al.size and al.min() > a_min and hi < XI_MAX:
            hi_new = min(XI_MAX, hi * 10.0)
            pts, hi = _merge(pts, trace(k, ks, lam, noise, np.geomspace(hi, hi_new, 4)[1:])), hi_new
        else:
            break
    i = _bracket_index(pts["alpha"], np.array([target]))[0]
    return pts, (None if i < 0 else int(i))


def _bracket_index(al: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target the index ``i`` with ``al[i] >= target >= al[i + 1]`` (``-1`` if none; ``al`` decreasing)."""
    if al.size < 2:
        return np.full(targets.size, -1)
    i = np.searchsorted(-al, -targets, side="right") - 1
    i = np.where(i == al.size - 1, np.where(al[-1] == targets, al.size - 2, -1), i)
    ok = (i >= 0) & (al[np.clip(i, 0, al.size - 1)] >= targets) & (al[np.clip(i + 1, 0, al.size - 1)] <= targets)
    return np.where(ok, i, -1)


def guesses(pts: dict, i: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starting ``(xi, q, branch)`` for every target between the traced points ``i`` and ``i + 1``: cubic in
    ``log alpha`` through the points ``i - 1 .. i + 2`` where they lie on one branch with ``q > 0``, else linear (a
    mixed pair at the lambda -> 0+ branch switch starts on the q = 0 branch)."""
    la, lb = np.log(pts["alpha"][i]), np.log(pts["alpha"][i + 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(la == lb, 0.5, (np.log(targets) - la) / (lb - la))
    xa, xb, qa, qb = pts["xi"][i], pts["xi"][i + 1], pts["q"][i], pts["q"][i + 1]
    xi = np.exp((1 - w) * np.log(xa) + w * np.log(xb))
    both = (qa > 0) & (qb > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(both, np.exp((1 - w) * np.log(qa) + w * np.log(qb)), np.maximum(qa, qb) * np.maximum(w, 1e-3))
    ba, bb = pts["branch"][i], pts["branch"][i + 1]
    branch = np.where(ba == bb, ba, _NON)
    n = pts["alpha"].size
    four = (i >= 1) & (i + 2 < n)
    j = np.clip(i, 1, max(n - 3, 1))[:, None] + np.arange(-1, 3)
    if n >= 4:
        al, lq = np.log(pts["alpha"][j]), np.log(np.maximum(pts["q"][j], 1e-300))
        four &= ((pts["branch"][j] == ba[:, None]).all(axis=1) & (pts["q"][j] > 0).all(axis=1)
                 & (np.diff(al, axis=1) < 0).all(axis=1))
        if np.any(four):
            x = np.log(targets)[:, None]
            lag = np.ones((i.size, 4))
            for m in range(4):
                for r in range(4):
                    if r != m:
                        lag[:, m] *= (x[:, 0] - al[:, r]) / (al[:, m] - al[:, r])
            xi = np.where(four, np.exp(np.sum(lag * np.log(pts["xi"][j]), axis=1)), xi)
            q = np.where(four, np.exp(np.sum(lag * lq, axis=1)), q)
    return xi, q, branch


def solve_point(setting: Setting, tol: float) -> tuple[dict, float] | None:
    """The fixed point at ``setting`` (not on the perfect-recovery branch) as ``(point, residual)``, or ``None`` when
    the fast path does not converge (the caller falls back to the reference solver)."""
    STATS["points"] += 1
    pts, i = _bracket(setting)
    if i is None:
        if pts["alpha"].size and not pts["converged"].all():
            raise Unresolved(f"could not bracket alpha = {setting.alpha} on the fixed-point curve; spectral laws "
                             f"not resolved at {np.sum(~pts['converged'])} of the traced xi (kappa* = "
                             f"{setting.kappa_star} too extreme for double precision)", _first(pts))
        return None
    p, res = _polish_targets(setting, pts, np.array([i]), np.array([setting.alpha]), tol)
    if res[0] <= tol and not p["converged"][0]:
        raise Unresolved("spectral law not resolved at the solution", _first(p), float(res[0]))
    if not (res[0] <= tol and p["converged"][0]):
        return None
    return {key: (BRANCHES[int(v[0])] if key == "branch" else float(v[0])) for key, v in p.items()
            if key != "converged"}, float(res[0])


class Unresolved(ArithmeticError):
    """The fast path reached ``xi`` where the spectral laws are not resolved (the reference path would be too):
    carries the reason, the nearest point and its residual."""

    def __init__(self, reason: str, point: dict, residual: float = math.inf) -> None:
        super().__init__(reason)
        self.point, self.residual = point, residual


def _first(p: dict) -> dict:
    return {key: (BRANCHES[int(v[0])] if key == "branch" else float(v[0])) for key, v in p.items()
            if key not in ("converged", "law")}


def _polish_targets(setting: Setting, pts: dict, i: np.ndarray, targets: np.ndarray,
                    tol: float) -> tuple[dict, np.ndarray]:
    """Polish every target from its bracket; at the branch switch a q = 0 solution with ``chi <= 0`` (or none) is
    replaced by the interpolating one."""
    k, ks, lam, noise = setting.kappa, setting.kappa_star, setting.lam, setting.noise
    xi, q, branch = guesses(pts, i, targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (np.log(pts["alpha"][i + 1] / pts["alpha"][i]) / np.log(pts["xi"][i + 1] / pts["xi"][i]))
    slope = np.where(np.isfinite(slope) & (slope != 0), slope, -1.0)
    p, res = polish_branch(k, ks, lam, noise, targets, xi, q, branch, slope)
    again = np.nonzero(~(res <= tol))[0]               # branch lost (fold tip) or slow: Newton in (log xi, q)
    if again.size:
        p2, res2 = polish(k, ks, lam, noise, targets[again], xi[again], q[again], branch[again])
        for key in p:
            p[key][again] = p2[key]
        res[again] = res2
    mixed = pts["branch"][i] != pts["branch"][i + 1]
    retry = np.nonzero(mixed & ((res > tol) | ~(p["chi"] > 0)))[0]
    if retry.size:
        q2 = np.where(q[retry] > 0, q[retry], np.maximum(pts["q"][i[retry]], pts["q"][i[retry] + 1]) * 1e-3)
        p2, res2 = polish(k, ks, lam, noise, targets[retry], xi[retry], q2, np.full(retry.size, _INT))
        for key in p:
            p[key][retry] = p2[key]
        res[retry] = res2
    return p, res


def as_dicts(p: dict, idx: np.ndarray | None = None) -> list[dict]:
    """Points of the array form as a list of dicts (branch names restored)."""
    keys = [k for k in p if k not in ("converged", "law")]
    idx = np.arange(p["alpha"].size) if idx is None else idx
    return [{k: (BRANCHES[int(p[k][j])] if k == "branch" else float(p[k][j])) for k in keys} for j in idx]


def solve_curve(setting: Setting, alphas: np.ndarray, exact: bool, tol: float,
                n_xi: int) -> tuple[dict, np.ndarray, dict]:
    """Every ``alphas`` on one traced curve: ``(points, solved mask, trace)``.

    The curve is traced on ``n_xi`` log-spaced ``xi`` over a range widened until its alpha covers ``alphas``, refined
    where neighbours are far apart, and every target is polished from its bracket (``exact``) or interpolated
    (monotone cubic in ``log alpha``, as :func:`qnn.longtime.trace.interpolate_curve`). Targets outside the
    traced range or not converged are left unsolved (``solved`` False) for the caller.
    """
    k, ks, lam, noise = setting.kappa, setting.kappa_star, setting.lam, setting.noise
    pts, _ = _bracket(setting.replace(alpha=float(alphas.max())), float(alphas.min()), n_xi)
    pts = refine(k, ks, lam, noise, pts, 0.08 if not exact else 0.25)
    i = _bracket_index(pts["alpha"], alphas)
    inside = np.nonzero(i >= 0)[0]
    out = {key: np.full(alphas.size, np.nan) for key in ("alpha", "mse", "loss", "ise", "xi", "q", "chi", "rank",
                                                         "dof", "cut", "omega")}
    out["branch"] = np.zeros(alphas.size, dtype=int)
    solved = np.zeros(alphas.size, dtype=bool)
    if inside.size and exact:
        p, res = _polish_targets(setting, pts, i[inside], alphas[inside], tol)
        ok = (res <= tol) & p["converged"]
        for key in out:
            out[key][inside] = p[key]
        solved[inside] = ok
    elif inside.size:
        from .trace import interpolate_curve
        for j, d in zip(inside, interpolate_curve(as_dicts(pts), alphas[inside])):
            for key in ("mse", "loss", "ise", "xi", "q", "chi", "rank", "dof"):
                out[key][j] = d[key]
            out["branch"][j] = BRANCHES.index(d["branch"])
            solved[j] = all(math.isfinite(d[key]) for key in ("mse", "xi", "q"))
        out["alpha"][inside] = alphas[inside]
    out["alpha"] = np.where(solved, alphas, out["alpha"])
    return out, solved, pts
