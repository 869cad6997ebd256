"""Evacuation routing on live road graphs (CSR arrays, Numba kernels).

Empty on purpose in the walking skeleton: the solver arrives with its own issue, and alerts
carry no route until then.
"""

__all__: list[str] = []
