"""Named workloads of the Orojenesis paper, written as Einsums."""

from __future__ import annotations

from ..errors import EinsumError
from .einsum import Einsum, einsum, positive_int


def gemm(M: int, K: int, N: int, name: str = "") -> Einsum:
    """``Z[m,n] += A[m,k] * B[k,n]``."""
    return einsum("Z[m,n] += A[m,k] * B[k,n]", name or f"gemm_{M}x{K}x{N}", m=M, k=K, n=N)


def bmm(M: int, K: int, N: int, H: int = 1, name: str = "") -> Einsum:
    """Batched matmul with per-head operands: ``Z[h,m,n] += A[h,m,k] * B[h,k,n]``."""
    return einsum("Z[h,m,n] += A[h,m,k] * B[h,k,n]", name or f"bmm_h{H}_{M}x{K}x{N}",
                  h=H, m=M, k=K, n=N)


def gbmm(M: int, K: int, N: int, H: int, G: int = 1, name: str = "") -> Einsum:
    """Grouped-query BMM: H query heads share G key/value groups of H/G heads each.

    ``Z[g,j,m,n] += A[g,j,m,k] * B[g,k,n]`` with ``g < G`` and ``j < H/G``; MACs = H*M*K*N.
    """
    H, G = positive_int(H, "gbmm: H"), positive_int(G, "gbmm: G")
    if H % G:
        raise EinsumError(f"gbmm: H={H} heads cannot be split into G={G} equal groups (G must divide H)")
    return einsum("Z[g,j,m,n] += A[g,j,m,k] * B[g,k,n]", name or f"gbmm_h{H}_g{G}_{M}x{K}x{N}",
                  g=G, j=H // G, m=M, k=K, n=N)


def conv(R: int = 1, S: int = 1, P: int = 1, Q: int = 1, C: int = 1, K: int = 1, N: int = 1,
         Wstride: int = 1, Hstride: int = 1, Wdilation: int = 1, Hdilation: int = 1,
         name: str = "") -> Einsum:
    """Timeloop's ``cnn-layer``: R and P slide along W, S and Q along H.

    ``O[n,k,q,p] += I[n,c, Hstride*q + Hdilation*s, Wstride*p + Wdilation*r] * W[c,k,r,s]``
    """
    coefs = {"Wstride": Wstride, "Hstride": Hstride, "Wdilation": Wdilation, "Hdilation": Hdilation}
    Wstride, Hstride, Wdilation, Hdilation = (positive_int(v, f"conv: {label}")
                                              for label, v in coefs.items())
    text = (f"O[n,k,q,p] += I[n,c,{Hstride}*q+{Hdilation}*s,{Wstride}*p+{Wdilation}*r]"
            " * W[c,k,r,s]")
    label = name or (f"conv_R{R}S{S}P{P}Q{Q}C{C}K{K}N{N}"
                     + (f"_st{Wstride}x{Hstride}" if (Wstride, Hstride) != (1, 1) else "")
                     + (f"_dil{Wdilation}x{Hdilation}" if (Wdilation, Hdilation) != (1, 1) else ""))
    return einsum(text, label, n=N, k=K, q=Q, p=P, c=C, s=S, r=R)
