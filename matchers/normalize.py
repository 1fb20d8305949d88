"""Bank memos and parcela names reduced to what identifies a counterpart, plus exact keys.

Banks wrap the payer's name in boilerplate ("PIX RECEBIDO -", "TED 237.1234",
"Transferência recebida pelo Pix -", Inter's "Cp :<ISPB>-", Nubank's trailing
"- ITAÚ UNIBANCO S.A. (0341) Agência: 1500 Conta: 12345-6") and glue dates and
document numbers to it; comparing names with that noise left in makes every
PIX look alike. Numbers are not thrown away: a CPF/CNPJ or a document number
in the memo is an exact key, better evidence than any name.

Lines are normalised once, when their statement is imported (`line_features`),
not on every nightly run: it is the costliest per-row step of matching.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recon.sources.keys import fold_text

# Longest first: the first match wins and is removed from the front of the memo.
_BOILERPLATE = [
    r"TRANSFERENCIA (RECEBIDA|ENVIADA) PELO PIX",
    r"TRANSFERENCIA (RECEBIDA|ENVIADA)",
    r"PIX (RECEBIDO|ENVIADO|TRANSF|QRS)( DE| PARA)?",
    r"PIX - (RECEBIDO|ENVIADO)",
    r"TRANSFE(RENCIA)? PIX REM:?",
    r"TED[- ]?(CREDITO EM CONTA|RECEBIDA|TRANSF ELET DISPON REMET\.?)?( \d{3}[.\d]*)?",
    r"DOC[- ]?(CREDITO EM CONTA)?( D)?",
    r"PAGAMENTO DE (BOLETO|TITULO)( EFETUADO)?",
    r"PAGTO ELETRON(ICO)? COBRANCA",
    r"TRANSF CC PARA CC( PJ| PF)?",
    r"SISPAG( FORNECEDORES)?",
    r"DEB(ITO)? AUTOR(IZADO)?",
    r"RECEBIMENTO( PIX)?",
    r"DEPOSITO",
    r"CREDITO",
]
_PREFIX = re.compile(r"^(?:" + "|".join(_BOILERPLATE) + r")\b[\s:\-]*")
_INTER_CP = re.compile(r"\bCP ?:\s?\d{6,8}-")  # Inter: "PIX RECEBIDO - Cp :60701190-NAME"
# Nubank and others name the counterpart's bank, branch and account after the name.
_BANK_TAIL = re.compile(r"\s-\s[^-]*\(\d{3,4}\)\s*AGENCIA:?.*$")
_CPF_FORMATTED = r"\d{3}\.\d{3}\.\d{3}-\d{2}"
_CNPJ_FORMATTED = r"\d{2}\.\d{3}\.\d{3}/\d{4}-\d{2}"
_DATE_TIME = r"\d{2}/\d{2}(/\d{2,4})?( \d{2}:\d{2})?|\d{2}:\d{2}"
_NOISE = re.compile(rf"{_DATE_TIME}|{_CPF_FORMATTED}|{_CNPJ_FORMATTED}|\d+")
_PUNCT = re.compile(r"[^\w ]+")
_SPACES = re.compile(r"\s+")
_COMPANY_SUFFIX = re.compile(r"\b(LTDA|ME|EPP|EIRELI|S\.?A|S/A|CIA)\b\.?")
_MEMO_SUFFIX = re.compile(r"\b(LTDA|EIRELI|S\.A\.|S/A)(?=\s|$)\.?")
_KEY_CANDIDATES = re.compile(
    rf"(?P<doc>{_CPF_FORMATTED}|{_CNPJ_FORMATTED})|(?P<date>{_DATE_TIME})|(?P<number>\d{{4,}})")
MIN_NUMBER_KEY = 4  # digits: shorter numbers are agencies, times and noise (as Odoo does)


@lru_cache(maxsize=1 << 16)
def clean_memo(memo: str) -> str:
    """'PIX RECEBIDO - JOAO DA SILVA 12/03' -> 'JOAO DA SILVA'."""
    text = fold_text(memo)
    text = _BANK_TAIL.sub("", _INTER_CP.sub(" ", text))
    text = _PREFIX.sub("", text)
    # Only the long suffixes: a bank's cut leaves 'EDUARDO ME' of EDUARDO MENDES, and
    # stripping that ME would leave a name that matches every Eduardo.
    return _tidy(_MEMO_SUFFIX.sub(" ", _NOISE.sub(" ", text)))


@lru_cache(maxsize=1 << 16)
def clean_name(name: str | None) -> str:
    """Contact or description text in the same form as clean_memo's output."""
    if not name or not isinstance(name, str):
        return ""
    return _tidy(_COMPANY_SUFFIX.sub(" ", fold_text(name)))


def _tidy(text: str) -> str:
    return _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()


# The steps of clean_name as Arrow (RE2) patterns, exact on ASCII text. ASCII whitespace is
# what str.isspace() and re's \s take (\x1c-\x1f too, which RE2's \s does not).
_ASCII_NOT_SPACE_SPACES = r"\t\n\x0b\x0c\r\x1c-\x1f"
# Runs of whitespace except a lone space, which becoming one space leaves as it is and is
# most of the matches.
_SPACE_RUNS = rf"[ {_ASCII_NOT_SPACE_SPACES}]{{2,}}|[{_ASCII_NOT_SPACE_SPACES}]"
_ARROW_COMPANY_SUFFIX = _COMPANY_SUFFIX.pattern  # ASCII \b, leftmost-first: as re does
_ARROW_PUNCT = r"[^0-9A-Za-z_ ]+"  # _PUNCT: \w on ASCII


def clean_names(names: Sequence[str | None]) -> pa.Array:
    """clean_name of each name, by Arrow's string kernels over all of them at once: one by
    one, Python's regexes cost 11-18 us a name (2 s for the 174k distinct names of 1M
    parcelas). Names still not ASCII once folded (a 'ß', an 'Ø', a CJK name) go through
    clean_name itself: Arrow's upper() and word characters differ from Python's there."""
    values = [v if isinstance(v, str) else None for v in names]
    folded = [v if v is None or v.isascii() else unicodedata.normalize("NFKD", v)
              for v in values]
    text = pa.array(folded, pa.string())
    marks = _combining_marks(folded)
    if marks:
        text = pc.replace_substring_regex(text, marks, "")
    # Decided on the folded text, before any step that treats ASCII only as Python would.
    other = pc.invert(pc.fill_null(pc.string_is_ascii(text), True)).to_numpy(False)
    text = _collapse_spaces(text)
    text = pc.replace_substring_regex(pc.ascii_upper(text), _ARROW_COMPANY_SUFFIX, " ")
    text = _collapse_spaces(pc.replace_substring_regex(text, _ARROW_PUNCT, " "))
    if other.any():
        text = pc.replace_with_mask(text, pa.array(other), pa.array(
            [clean_name(values[i]) for i in np.flatnonzero(other)], pa.string()))
    return pc.fill_null(text, "")


def _combining_marks(folded: list[str | None]) -> str | None:
    """A pattern matching the combining marks in these NFKD-folded names (the characters
    fold_text drops), or None when there are none."""
    found = set("".join(v for v in folded if v is not None and not v.isascii()))
    marks = sorted(c for c in found if unicodedata.combining(c))
    return "[" + "".join(f"\\x{{{ord(c):x}}}" for c in marks) + "]+" if marks else None


def _collapse_spaces(text: pa.Array) -> pa.Array:
    """_SPACES.sub(" ", t).strip() of each ASCII t."""
    return pc.utf8_trim(pc.replace_substring_regex(text, _SPACE_RUNS, " "), " ")


def number_keys(texts: pa.Array | pa.ChunkedArray) -> pa.ListArray:
    """Per text, 'num:<digits>' (leading zeros off, '0' when all zeros) for each run of at
    least MIN_NUMBER_KEY ASCII digits, in order (a null text: none). SQL's
    regexp_extract_all(text, '\\d{4,}') + ltrim, found in the UTF-8 bytes of all the texts
    at once with numpy: the regex cost more than the rest of reading a million parcelas."""
    text = pc.fill_null(texts, "")
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    text = pa.concat_arrays([text.cast(pa.string())])  # offsets from 0, data from 0
    offsets = np.frombuffer(text.buffers()[1], np.int32)[:len(text) + 1].astype(np.int64)
    data = np.frombuffer(text.buffers()[2] or b"", np.uint8)[:offsets[-1]]
    digit = (data >= ord("0")) & (data <= ord("9"))
    row_start = np.zeros(len(data) + 1, bool)
    row_start[offsets] = True  # a run never goes on into the next text
    before = np.r_[False, digit[:-1]] & ~row_start[:-1]
    after = np.r_[digit[1:], False] & ~row_start[1:]
    start = np.flatnonzero(digit & ~before)
    end = np.flatnonzero(digit & ~after) + 1
    keep = end - start >= MIN_NUMBER_KEY
    start, end = start[keep], end[keep]
    significant = np.flatnonzero(digit & (data != ord("0")))
    first = significant[np.minimum(np.searchsorted(significant, start), len(significant) - 1)] \
        if len(significant) else end
    first = np.where((first >= start) & (first < end), first, end - 1)  # all zeros: '0'
    values = _prefixed(b"num:", data, first, end)
    row = np.searchsorted(offsets, start, side="right") - 1
    counts = np.bincount(row, minlength=len(text))
    return pa.ListArray.from_arrays(pa.array(np.r_[0, np.cumsum(counts)], pa.int32()), values)


def _prefixed(prefix: bytes, data: np.ndarray, start: np.ndarray, end: np.ndarray
              ) -> pa.StringArray:
    """prefix + data[start:end] for each (start, end), as Arrow strings."""
    source = np.r_[np.frombuffer(prefix, np.uint8), data]
    seg_start = np.stack([np.zeros(len(start), np.int64), start + len(prefix)], 1).ravel()
    seg_len = np.stack([np.full(len(start), len(prefix)), end - start], 1).ravel()
    seg_at = np.r_[0, np.cumsum(seg_len)]
    gather = np.repeat(seg_start - seg_at[:-1], seg_len) + np.arange(seg_at[-1])
    value_offsets = np.r_[0, np.cumsum(len(prefix) + end - start)].astype(np.int32)
    return pa.StringArray.from_buffers(len(start), pa.py_buffer(value_offsets),
                                       pa.py_buffer(source[gather].tobytes()))


def memo_keys(memo: str) -> list[str]:
    """Exact keys printed in a memo: valid CPF/CNPJ as 'doc:<digits>', other numbers of at
    least four digits as 'num:<digits>' (leading zeros off). Dates and times are not keys."""
    keys: list[str] = []
    for found in _KEY_CANDIDATES.finditer(memo):
        digits = re.sub(r"\D", "", found["doc"] or found["number"] or "")
        if not digits:
            continue
        key = document_key(digits) if len(digits) in (11, 14) else None
        keys.append(key or f"num:{digits.lstrip('0') or '0'}")
    return sorted(set(keys))


@lru_cache(maxsize=1 << 16)
def document_key(digits: str | None) -> str | None:
    """'doc:<digits>' for a CPF or CNPJ whose check digits are right, else None."""
    if not isinstance(digits, str) or not digits:
        return None
    digits = re.sub(r"\D", "", digits)
    if len(digits) == 11 and _cpf_ok(digits) or len(digits) == 14 and _cnpj_ok(digits):
        return f"doc:{digits}"
    return None


_CPF_WEIGHTS = (np.arange(10, 1, -1), np.arange(11, 1, -1))
_CNPJ_WEIGHTS = (np.array([5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]),
                 np.array([6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]))


def document_keys(values: Sequence[str | None]) -> np.ndarray:
    """document_key of each value (object array, None where not a valid CPF/CNPJ). The check
    digits of ASCII numbers are computed in numpy, many at a time: one by one they were
    most of the cost of staging a run's parcelas."""
    out = np.full(len(values), None, object)
    digits = [(v if v.isdigit() and v.isascii() else re.sub(r"\D", "", v))
              if isinstance(v, str) else "" for v in values]
    for length, weights in ((11, _CPF_WEIGHTS), (14, _CNPJ_WEIGHTS)):
        rows = [i for i, d in enumerate(digits) if len(d) == length]
        plain = [i for i in rows if digits[i].isascii()]
        for i in set(rows) - set(plain):  # other scripts' digits: int() reads them, numpy not
            out[i] = document_key(digits[i])
        if not plain:
            continue
        text = [digits[i] for i in plain]
        d = (np.frombuffer("".join(text).encode("ascii"), np.uint8).reshape(-1, length)
             .astype(np.int64) - ord("0"))
        ok = ~(d == d[:, :1]).all(axis=1)
        for position, w in zip((length - 2, length - 1), weights, strict=True):
            rest = (d[:, :position] @ w) % 11
            ok &= np.where(rest < 2, 0, 11 - rest) == d[:, position]
        out[np.asarray(plain)[ok]] = [f"doc:{t}" for t, good in zip(text, ok, strict=True)
                                       if good]
    return out


def _check_digit(digits: str, weights: list[int]) -> int:
    rest = sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest < 2 else 11 - rest


def _cpf_ok(d: str) -> bool:
    if d == d[0] * 11:
        return False
    return (_check_digit(d[:9], list(range(10, 1, -1))) == int(d[9])
            and _check_digit(d[:10], list(range(11, 1, -1))) == int(d[10]))


def _cnpj_ok(d: str) -> bool:
    if d == d[0] * 14:
        return False
    first = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    return (_check_digit(d[:12], first) == int(d[12])
            and _check_digit(d[:13], [6, *first]) == int(d[13]))


def block_token(name: str) -> str:
    """The first word and the start of the second: 'ANTONIO CO' and 'ANTONIO COSTA LIMA' both
    give 'ANTONIO CO', so a truncated bank name still meets its contact in a blocking join."""
    words = name.split()
    if not words:
        return ""
    return words[0] if len(words) == 1 else f"{words[0]} {words[1][:2]}"


def line_features(memo: str) -> tuple[str, list[str]]:
    """What matching needs from a memo, computed once at import: counterpart and keys."""
    return clean_memo(memo), memo_keys(memo)
