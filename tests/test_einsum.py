import pytest

import boundsolver as bs
from boundsolver import EinsumError


def test_parse_sliding_axes_and_sizes():
    p = bs.einsum("O[n,k,q,p] += I[n,c,2*q+s,2*p+r] * W[c,k,r,s]",
                  n=1, k=4, c=2, q=3, p=3, s=3, r=3)
    inp = p.tensor("I")
    assert [str(a) for a in inp.axes] == ["n", "c", "2*q+s", "2*p+r"]
    assert p.tensor_size(inp) == 1 * 2 * (2 * 2 + 2 + 1) * (2 * 2 + 2 + 1)
    assert p.macs == 4 * 2 * 9 * 9


def test_workloads_match_their_einsums():
    assert str(bs.gemm(2, 3, 4)) == "Z[m,n] += A[m,k] * B[k,n]"
    g = bs.gbmm(8, 4, 8, H=8, G=2)
    assert g.macs == 8 * 8 * 4 * 8 and g.size["j"] == 4
    c = bs.conv(R=3, S=3, P=4, Q=4, C=2, K=2, Wstride=2, Hdilation=2)
    assert c.tensor_size(c.tensor("I")) == 2 * ((4 - 1) * 1 + (3 - 1) * 2 + 1) * ((4 - 1) * 2 + 2 + 1)


@pytest.mark.parametrize("text,sizes,message", [
    ("Z[m,n] += A[m,k] * B[k,n]", dict(m=2, k=2), "rank 'n' appears in output but has no size"),
    ("Z[m,q] += A[m,k] * B[k,n]", dict(m=2, k=2, n=2, q=2), "rank 'q' appears in output Z"),
    ("Z[m,n] += A[m,k] * B[k,n]", dict(m=2, k=2, n=2, x=3), "size given for rank 'x'"),
    ("Z[m,n] += A[m,k] * B[k,n]", dict(m=0, k=2, n=2), "must be a positive integer, got 0"),
    ("Z[m,n] += A[m,k] * B[k,n]", dict(m=2.5, k=2, n=2), "got 2.5"),
    ("Z[m,n] += A[m,k] * A[k,n]", dict(m=2, k=2, n=2), "tensor 'A' appears more than once"),
    ("Z[m,n] += A[m,m] * B[k,n]", dict(m=2, k=2, n=2), "rank 'm' appears more than once"),
])
def test_bad_einsums_name_the_problem(text, sizes, message):
    with pytest.raises(EinsumError, match=message.replace("(", r"\(").replace(".", r"\.")):
        bs.einsum(text, **sizes)


@pytest.mark.parametrize("text,column", [
    ("Z[m,n] += A[m,k] * B[k,n", 24),
    ("Z[m,n] += A[m,k] B[k,n]", 17),
    ("Z[m,n] A[m,k]", 7),
    ("Z[m,n] += A[m,0*k]", 14),
    ("Z[m,n] += A[m,k] * B[k,n] $", 26),
])
def test_malformed_strings_are_quoted_with_a_caret(text, column):
    with pytest.raises(EinsumError) as err:
        bs.einsum(text, m=2, k=2, n=2)
    lines = str(err.value).splitlines()
    assert f"at position {column}" in lines[0]
    assert lines[1].strip() == text
    assert lines[2].index("^") - lines[1].index(text[0]) == column


def test_bad_workload_arguments():
    with pytest.raises(EinsumError, match="G must divide H"):
        bs.gbmm(4, 4, 4, H=6, G=4)
    with pytest.raises(EinsumError, match="Wstride must be a positive integer"):
        bs.conv(R=3, P=4, Wstride=0)
