"""How far predictions are from measurements: RMSE, MAPE, the share within a tolerance, and
Kendall's rank correlation (what a search needs: the order of candidates). Pure Python."""
from __future__ import annotations

import math


def kendall_tau(x: list[float], y: list[float]) -> float | None:
    """Kendall's tau-b: (concordant - discordant) pairs over the pairs not tied, ties in either
    list discounted as in tau-b. None for fewer than two points or a list of equal values."""
    n = len(x)
    if n != len(y):
        raise ValueError("kendall_tau needs two lists of one length")
    concordant = discordant = ties_x = ties_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denominator if denominator else None


def errors(predicted: list[float], measured: list[float]) -> dict:
    """The numbers `lut validate` reports for one predictor, in the unit of the values."""
    n = len(measured)
    rel = [(p - m) / m for p, m in zip(predicted, measured)]
    return {"n": n,
            "rmse": math.sqrt(sum((p - m) ** 2 for p, m in zip(predicted, measured)) / n) if n else None,
            "mape_pct": 100 * sum(abs(r) for r in rel) / n if n else None,
            "bias_pct": 100 * sum(rel) / n if n else None,
            "max_abs_pct": 100 * max(abs(r) for r in rel) if n else None,
            "within_5pct": sum(abs(r) <= 0.05 for r in rel) / n if n else None,
            "within_10pct": sum(abs(r) <= 0.10 for r in rel) / n if n else None,
            "kendall_tau": kendall_tau(predicted, measured)}


def line_fit(x: list[float], y: list[float]) -> tuple[float, float]:
    """Least squares y = a + b x; through the origin (a = 0) with one point."""
    n = len(x)
    if n == 1:
        return 0.0, y[0] / x[0]
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((xi - mx) ** 2 for xi in x)
    if sxx == 0:
        return 0.0, my / mx
    b = sum((xi - mx) * (yi - my) for xi, yi in zip(x, y)) / sxx
    return my - b * mx, b
