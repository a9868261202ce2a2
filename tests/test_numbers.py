"""Every figure in the book's prose is printed on its page, or is a cited fact (issue 11, A8).

The test reads the BUILT pages (``_build/html/book/*.html``: the ``built_book`` fixture of
conftest.py builds them, or trusts them with CLASSICNETS_BOOK_BUILT=1). On a page,

* **prose** is the article's text outside code cells: Markdown cells (or the ``.md`` page),
  headings, lists, tables, inline math; not inline code, not literal blocks;
* **outputs** are the text of the code cells' outputs (``div.cell_output``: streams, tables
  displayed as Markdown, HTML);
* **the page's code** is the text of its code cells (less their comments), its inline code spans
  and literal blocks: a number the reader sees in code (``batch_size=64``,
  ``nn.Linear(9216, 4096)``) is a setting the page shows, not a claim;
* values pasted into the prose by myst-nb's ``glue``/``eval`` roles count as outputs.

A prose figure **looks measured or counted** when it is a decimal (``0.905``, ``1.57×``,
``18.0 ms``, ``2e-4``), a percentage (``36%``) or an integer of 100 or more (``61,706``, ``227``).
Not scanned: integers below 100; years (4 digits without a separator, 1900–2039); references
and names (a number right after §, section, table, figure, chapter, exercise, step, appendix,
equation, Python, version, CUDA, torch, GTX/RTX, ILSVRC); versions (``2.14.1``); a number inside
a word or identifier (``conv2``, ``fp32``, ``H100``); integers in the "Exercises" section (sizes,
batch sizes, epochs the reader is asked to try: settings, not claims; its decimals and
percentages are scanned).

A figure **matches** a number of the page's outputs, of its code, or of a fact of
:mod:`classicnets.facts` (each with its paper and section) when

* the two are equal once written the same way: ``61,706`` = ``61706`` = ``61_706``, the sign
  ignored; a fraction and a percentage are the same number (``90.5%`` = ``0.905``, when the prose
  figure is a percentage or has two decimals or more: ``0.3`` is not ``25%``); a scale
  word multiplies (``62.4 million``, ``62.4M``, ``1.2 million``);
* rounding the source number to the figure's precision gives the figure (prose ``0.91`` or
  ``0.9`` from an output ``0.9050``; a tie may round either way). The precision is the figure's
  last written digit; for an integer after "about", "≈", "~", "roughly", "around", "nearly",
  "almost" or "approximately" it is its last non-zero digit (``about 62,000`` from ``61,706``).
  A figure never matches a source that is less precise than itself unless they are equal, nor
  a decimal source with more than :data:`MAX_EXTRA_DIGITS` digits beyond its own.

Figures that are right without an output or a fact are listed in :data:`ALLOWED`, each with its
reason; an entry that no longer matches anything (a figure now printed, or gone) fails too, so
the list stays small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import pytest
from bs4 import BeautifulSoup, NavigableString, Tag
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st

from classicnets.facts import FACTS

# --------------------------------------------------------------------------- the allow-list

#: (page, figure as written, words of its sentence, reason): the page is a toc entry
#: ("book/04_alexnet_architecture"); the words pin the one sentence, so the same figure elsewhere
#: on the page is still checked.
Allowance = Tuple[str, str, str, str]
ALLOWED: Tuple[Allowance, ...] = ()

# --------------------------------------------------------------------------- figures

NUMBER = re.compile(
    r"(?<![\w.,])"  # not inside a word, an identifier or a number
    r"(?P<int>\d{1,3}(?:[,_]\d{3})+(?!\d)|\d+)"  # 61,706 / 61_706 / 61706
    r"(?:\.(?P<frac>\d+))?"
    r"(?:[eE](?P<exp>[-+−]?\d+))?"  # 2e-4
    r"(?!\d)(?!\.\d)(?![,_]\d)"  # not a version (2.14.1), not 1,23 or 1_2
    r"(?P<pct>\s?%)?"
)
SCALE = re.compile(r"^(?:\s?(?P<word>thousand|million|billion|trillion|万|亿)|(?P<abbr>[kMG])(?![A-Za-z]))")
SCALES = {"thousand": 3, "million": 6, "billion": 9, "trillion": 12, "万": 4, "亿": 8, "k": 3, "M": 6, "G": 9}
REFERENCE = re.compile(
    r"(?:§|\b(?:sections?|tables?|figures?|fig\.|chapters?|exercises?|steps?|appendix|eq\.|equations?|"
    r"python|version|cuda|torch|gtx|rtx|ilsvrc|issue|pages?)[\s\-]*)\s*$",
    re.IGNORECASE,
)
INLINE_CODE = re.compile(r"`[^`]*`")
APPROX = re.compile(
    r"(?:\b(?:about|roughly|around|nearly|almost|approximately)\s+|(?:[≈~∼]|约|大约|近)\s*)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Figure:
    """One number as written: its value (scale words applied), the step of its last digit."""

    text: str
    value: Decimal
    quantum: Decimal
    percent: bool
    decimal: bool
    start: int = 0

    @property
    def is_integer(self) -> bool:
        return not (self.percent or self.decimal)

    @property
    def looks_measured(self) -> bool:
        return self.percent or self.decimal or self.value >= 100


def figures(text: str, approx: bool = False) -> List[Figure]:
    """Every number of ``text`` (prose, output or code), references and years included.

    ``approx``: an integer after "about", "≈"… gets its last non-zero digit as its precision.
    """
    found = []
    for m in NUMBER.finditer(text):
        digits = re.sub(r"[,_]", "", m["int"])
        frac = m["frac"] or ""
        exp = int(m["exp"].replace("−", "-")) if m["exp"] else 0
        value = Decimal(f"{digits}.{frac}" if frac else digits).scaleb(exp)
        quantum = Decimal(1).scaleb(exp - len(frac))
        if approx and not frac and not exp and APPROX.search(text[: m.start()]):
            zeros = len(digits) - len(digits.rstrip("0"))
            quantum = Decimal(1).scaleb(min(zeros, len(digits) - 1))
        end = m.end()
        scale = None if m["pct"] else SCALE.match(text[end:])
        if scale:
            power = SCALES[scale["word"] or scale["abbr"]]
            value, quantum, end = value.scaleb(power), quantum.scaleb(power), end + scale.end()
        found.append(
            Figure(
                text[m.start() : end].strip(), abs(value), quantum, bool(m["pct"]), bool(frac or m["exp"]), m.start()
            )
        )
    return found


def is_reference_or_year(text: str, fig: Figure) -> bool:
    """A section/table/chapter number, a version, a product name or a year: not a measurement."""
    if REFERENCE.search(text[max(0, fig.start - 24) : fig.start]):
        return True
    return (
        not fig.decimal
        and not fig.percent
        and re.fullmatch(r"\d{4}", fig.text) is not None
        and 1900 <= fig.value <= 2039
    )


def prose_figures(text: str, exercise: bool = False) -> List[Figure]:
    """The figures of a prose text that look measured or counted (in an exercise: not integers).

    Inline code (between backticks) is not prose: its digits are masked, keeping the offsets."""
    text = INLINE_CODE.sub(lambda m: re.sub(r"\d", "#", m.group()), text)
    return [
        f
        for f in figures(text, approx=True)
        if f.looks_measured and not is_reference_or_year(text, f) and not (exercise and f.is_integer)
    ]


#: A decimal source may carry at most this many digits beyond the figure's last one: ``0.91`` comes
#: from ``0.9050`` but not from a long float such as ``0.912345678`` that merely lies nearby.
MAX_EXTRA_DIGITS = 3


def candidates(fig: Figure, prose: Figure) -> Iterable[Tuple[Decimal, Decimal]]:
    """(value, step of its last digit) of a source number, and the same number as a fraction (for a
    prose figure with two decimals or more: ``0.905`` from ``90.5%``) or as a percentage (for a prose
    percentage: ``90.5%`` from ``0.905``)."""
    yield fig.value, fig.quantum
    if fig.percent and prose.quantum <= Decimal("0.01"):
        yield fig.value / 100, fig.quantum / 100
    elif fig.decimal and not fig.percent and fig.value <= 1 and prose.percent:
        yield fig.value * 100, fig.quantum * 100


def matches(prose: Figure, source: Figure) -> bool:
    """``prose`` is ``source`` written at the prose's precision (see the module docstring)."""
    for value, quantum in candidates(source, prose):
        if value == prose.value:
            return True
        if source.decimal and quantum < prose.quantum.scaleb(-MAX_EXTRA_DIGITS):
            continue
        for rounding in (ROUND_HALF_UP, ROUND_HALF_EVEN):
            if (value / prose.quantum).to_integral_value(rounding) * prose.quantum == prose.value:
                return True
    return False


class Sources:
    """The numbers a page may quote: its outputs, its code and the cited facts."""

    def __init__(self, texts: Iterable[str]):
        numbers = {(f.value, f.quantum, f.percent, f.decimal) for text in texts for f in figures(text)}
        self.figures = [Figure("", v, q, p, d) for v, q, p, d in numbers]

    def find(self, prose: Figure) -> bool:
        return any(matches(prose, source) for source in self.figures)


def fact_texts() -> List[str]:
    return [fact.text for fact in FACTS]


# --------------------------------------------------------------------------- pages

BLOCKS = (
    "p",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "th",
    "td",
    "dt",
    "dd",
    "caption",
    "figcaption",
    "blockquote",
    "div",
)
LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
EXERCISES = re.compile(r"^(?:Exercises?|练习|习题)\b")


@dataclass
class Page:
    prose: List[str]  # one entry per block (paragraph, list item, heading, table cell)
    exercises: List[str]  # the blocks of the "Exercises" section
    outputs: List[str]
    code: List[str]


def split_page(html: str) -> Page:
    """Prose, outputs and code of a built page (sphinx-book-theme + MyST-NB markup)."""
    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article.bd-article") or soup.select_one("main") or soup.body or soup
    # anchors, equation numbers "(1)", "Fig. 1" / "Table 2" labels, copy buttons: not figures
    for tag in article.select("script, style, a.headerlink, span.eqno, span.caption-number, button"):
        tag.decompose()
    outputs = [out.get_text(" ") for out in article.select("div.cell_output")]
    for comment in article.select(", ".join(f"div.cell_input span.{c}" for c in ("c", "c1", "cm", "ch", "cs"))):
        comment.decompose()  # Pygments' comment tokens: a number in a comment is not code that ran
    code = [c.get_text(" ") for c in article.select("div.cell_input")]
    for cell in article.select("div.cell"):
        cell.decompose()
    # values pasted into the prose from the page's outputs (myst-nb's glue and eval roles)
    pasted = article.select(".output, .pasted-text, .pasted-inline, .pasted-math")
    outputs += [p.get_text(" ") for p in pasted]
    for tag in pasted:
        tag.replace_with(" ")
    code += [c.get_text(" ") for c in article.select("code, pre, kbd, samp")]
    for tag in article.select("pre"):
        tag.decompose()
    for tag in article.select("code, kbd, samp"):  # kept for the failure message, never scanned
        tag.replace_with("`" + tag.get_text().replace("`", "'") + "`")
    for math in article.select(".math"):  # TeX source: its commands are not prose, its numbers are
        text = LATEX_COMMAND.sub(" ", math.get_text(" ")).replace("{", " ").replace("}", " ")
        block = soup.new_tag("p" if math.name == "div" else "span")
        block.string = f" {text} "
        math.replace_with(block)
    exercises: List[str] = []
    for section in article.select("section"):
        heading = section.find(re.compile(r"^h[1-6]$"))
        if heading is not None and EXERCISES.match(heading.get_text(" ").strip()):
            exercises += _blocks(section)
            section.decompose()
    return Page(prose=_blocks(article), outputs=outputs, code=code, exercises=exercises)


def _blocks(root: Tag) -> List[str]:
    """The text of ``root`` grouped by its nearest block element, in document order."""
    groups: Dict[int, List[str]] = {}
    order: List[int] = []
    for node in root.descendants:
        if type(node) is not NavigableString:
            continue  # comments, doctypes
        block = node.find_parent(BLOCKS) or root
        key = id(block)
        if key not in groups:
            if not node.strip():
                continue  # whitespace between blocks opens no block
            groups[key] = []
            order.append(key)
        groups[key].append(str(node))
    texts = (re.sub(r"\s+", " ", "".join(groups[k])).strip() for k in order)
    return [t for t in texts if t]


def sentence_at(block: str, start: int) -> str:
    """The sentence of ``block`` around character ``start``, for the failure message."""
    bounds = [0] + [m.end() for m in re.finditer(r"(?<=[.!?:;])\s+(?=[A-Z(“\"*•])", block)] + [len(block)]
    for lo, hi in zip(bounds, bounds[1:]):
        if lo <= start < hi:
            sentence = block[lo:hi].strip()
            return sentence if len(sentence) <= 300 else sentence[:297] + "…"
    return block[:300]


@dataclass(frozen=True)
class Unsourced:
    page: str
    figure: str
    sentence: str

    def __str__(self) -> str:
        return f"  {self.figure!r:>14} in: {self.sentence}"


def unsourced(page: Page, name: str, facts: Sequence[str] = ()) -> List[Unsourced]:
    """The prose figures of ``page`` that no output, no code of the page and no fact contains."""
    sources = Sources([*page.outputs, *page.code, *facts])
    found = []
    blocks = [(b, False) for b in page.prose] + [(b, True) for b in page.exercises]
    for block, exercise in blocks:
        for fig in prose_figures(block, exercise):
            if not sources.find(fig):
                found.append(Unsourced(name, fig.text, sentence_at(block, fig.start)))
    return found


def allowed(item: Unsourced, allow: Sequence[Allowance] = ALLOWED) -> Optional[Allowance]:
    """The entry of ``allow`` for this page, figure and sentence, if any."""
    for entry in allow:
        page, figure, words, _ = entry
        if (page, figure) == (item.page, item.figure) and words in item.sentence:
            return entry
    return None


def report(items: Sequence[Unsourced]) -> str:
    by_page: Dict[str, List[Unsourced]] = {}
    for item in items:
        by_page.setdefault(item.page, []).append(item)
    lines = []
    for page, its in by_page.items():
        source = f"{page}.ipynb" if (REPO / f"{page}.ipynb").exists() else f"{page}.md"
        lines.append(f"{source}: {len(its)} figure(s) that no cell of the page prints and no fact holds:")
        lines += [str(i) for i in its]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the book


def built_page(built_book: Path, page: str) -> Path:
    path = built_book / f"{page}.html"
    if not path.exists():
        pytest.fail(f"{page}: {path} is missing from the build")
    return path


def test_every_prose_figure_is_printed_on_its_page_or_cited(built_book, toc_page):
    page = split_page(built_page(built_book, toc_page).read_text(encoding="utf-8"))
    assert page.prose, f"{toc_page}: no prose found in the built page (has the theme's markup changed?)"
    bad = [item for item in unsourced(page, toc_page, fact_texts()) if not allowed(item)]
    assert not bad, (
        report(bad) + "\nPrint each figure from a cell of the page (or quote a fact of classicnets/facts.py with its "
        "paper and section); if it is right as it is, add it to ALLOWED in tests/test_numbers.py with the reason."
    )


def test_every_allowed_figure_is_still_on_its_page(built_book):
    stale = []
    for page_name, figure, words, reason in ALLOWED:
        page = split_page(built_page(built_book, page_name).read_text(encoding="utf-8"))
        items = unsourced(page, page_name, fact_texts())
        if not any(allowed(item, [(page_name, figure, words, reason)]) for item in items):
            stale.append(f"{page_name}: {figure!r} in {words!r} ({reason})")
    assert not stale, (
        "ALLOWED entries that allow nothing (the figure is gone or now printed; remove them):\n" + "\n".join(stale)
    )


def test_the_allow_list_gives_reasons():
    for page_name, figure, words, reason in ALLOWED:
        assert page_name.startswith("book/") and figure in words and len(reason) > 20, (page_name, figure, reason)


# --------------------------------------------------------------------------- the scanner itself, on small pages

SYNTHETIC = """<html><body><nav>Sidebar 999.9 ms</nav><main><article class="bd-article" role="main">
<section><h1>Training 2012<a class="headerlink" href="#t">#</a></h1>
<p>The model has 61,706 parameters and reaches 90.5% test accuracy (0.91 rounded), 1.57× faster,
in 18.0 ms per batch of 256; about 62,000 weights;
<code class="docutils literal"><span class="pre">lr=3e-4</span></code>.</p>
<ul><li><p>It took 42.7 s, see §4.2, Table 2 and chapter 04; torch 2.14.1 on an H100.</p></li>
<li>Accuracy fell by 0.6 pp and <span class="math notranslate nohighlight">\\(224\\times224\\)</span> inputs.</li></ul>
<div class="math notranslate nohighlight"><span class="eqno">(107)</span>\\[n = 224\\]</div>
<div class="cell docutils container"><div class="cell_input docutils container"><pre>fit(model, batch_size=256)
print(12345.678)  <span class="c1"># it takes 42.7 s</span></pre></div>
<div class="cell_output docutils container"><div class="output stream">
<pre>params 61706 | acc 0.9050 | 1.5733x | 18.04 ms
drop -0.6 pp at 224x224</pre></div></div></div>
<p>The paper reports 15.3% top-5 error, and 12345.678 appears only in code.</p>
<p>A glued value: <span class="pasted-text">0.8123</span>, quoted as 0.81.</p>
<section id="exercises"><h2>Exercises</h2><ol><li><p>Train on 300 images for 2.5 epochs.</p></li></ol></section>
</section></article></main><footer>Footer 777.7</footer></body></html>"""


def test_split_page_separates_prose_outputs_and_code():
    page = split_page(SYNTHETIC)
    prose = " ".join(page.prose)
    assert "61,706 parameters" in prose and "Sidebar" not in prose and "Footer" not in prose
    assert "params 61706" not in prose and "batch_size" not in prose
    assert "`lr=3e-4`" in prose and prose_figures("`lr=3e-4` and `x.view(-1, 9216)`") == []  # shown, not scanned
    assert "#" not in prose  # the heading's anchor link
    assert "224 224" in prose  # inline math is prose, LaTeX commands dropped
    assert any("params 61706" in o for o in page.outputs)
    assert any("batch_size=256" in c for c in page.code) and any("lr=3e-4" in c for c in page.code)
    assert len(page.prose) == 7  # the heading, four paragraphs, the list item without <p>, the equation
    assert "(107)" not in prose and "n = 224" in prose  # an equation's number is not a figure
    assert "0.8123" not in prose and any("0.8123" in o for o in page.outputs)  # pasted by myst-nb's glue
    assert page.prose[0] == "Training 2012"
    assert page.exercises == ["Exercises", "Train on 300 images for 2.5 epochs."]


def test_unsourced_finds_exactly_the_figures_no_output_code_or_fact_holds():
    page = split_page(SYNTHETIC)
    found = {(i.figure, i.sentence.split()[0]) for i in unsourced(page, "book/x")}
    # 42.7 s is printed by no cell; 15.3% is a fact, but no facts are given here
    # in an exercise an integer is a setting for the reader (300 images), a decimal is still scanned
    assert found == {("42.7", "It"), ("15.3%", "The"), ("2.5", "Train")}
    found = [i.figure for i in unsourced(page, "book/x", fact_texts())]
    assert found == ["42.7", "2.5"]
    assert "It took 42.7 s" in unsourced(page, "book/x")[0].sentence


def test_matching_rules():
    def ok(prose: str, source: str) -> bool:
        return Sources([source]).find(prose_figures(prose)[0])

    assert ok("61,706", "61706") and ok("61706", "61_706") and ok("61,706", "(61,706)")
    assert ok("90.5%", "0.905") and ok("0.905", "90.5%") and ok("36%", "0.3612")
    assert ok("0.91", "0.9050") and ok("0.90", "0.9050") and ok("0.9", "0.905")  # a tie rounds either way
    assert ok("18.0 ms", "18.04 ms") and ok("1.57×", "1.5733") and ok("0.6 pp", "-0.6 pp")
    assert ok("62.4 million", "62,378,344") and ok("1.2 million", "1.2 million") and ok("62.4M", "62378344")
    assert ok("about 62,000", "61,706") and ok("≈ 0.88", "0.88")
    # the Chinese edition's scale and approximation words
    assert ok("约 120 万", "1,200,000") and ok("约 6240 万", "62,378,344") and not ok("6240 万", "62,378,344")
    assert not ok("0.91", "0.9151") and not ok("18.0 ms", "18.06 ms") and not ok("62,000", "61,706")
    assert not ok("0.905", "0.91")  # a less precise source cannot give a more precise figure
    assert ok("0.4", "0.4123") and not ok("0.4", "0.41234") and ok("41%", "0.41234")  # MAX_EXTRA_DIGITS
    assert not ok("0.3", "25%") and not ok("36.0", "0.36") and not ok("0.4", "40%")  # a percentage needs its %...
    assert ok("0.36", "36%") and ok("36%", "0.36")  # ...or a fraction its two decimals
    assert not ok("-0.6 pp", "0.5") and not ok("112 ms", "18.0 ms") and not ok("3.9%", "1998")
    assert not ok("25.8%", "0.262") and not ok("1,000", "100")


def test_what_is_not_scanned():
    assert prose_figures("In 1998 and 2012, 60 kernels, 5 layers, 3 GB") == []
    assert prose_figures("§3.3, section 4.2, Table 2, Figure 1, exercise 12, Python 3.9, torch 2.14.1") == []
    assert prose_figures("conv2, fp32, H100, GTX 580, ILSVRC-2012") == []
    assert [f.text for f in prose_figures("the 2048 crops, 100 epochs, 99 steps, 0.5, 7%")] == [
        "2048",
        "100",
        "0.5",
        "7%",
    ]


def test_report_names_page_figure_and_sentence():
    items = unsourced(split_page(SYNTHETIC), "book/03_x")
    text = report(items)
    assert text.startswith("book/03_x.md: 3 figure(s)") and "'42.7'" in text and "It took 42.7 s, see §4.2" in text


def test_allow_list_lookup():
    item = Unsourced("book/x", "42.7", "It took 42.7 s")
    assert allowed(item, [("book/x", "42.7", "took 42.7 s", "a reason long enough to read")])
    assert not allowed(item, [("book/y", "42.7", "took 42.7 s", "a reason long enough to read")])
    assert not allowed(item, [("book/x", "42.7", "ran 42.7 s", "a reason long enough to read")])


@settings(max_examples=300, deadline=None)
@given(
    x=st.decimals(min_value=0, max_value=10**7, places=6, allow_nan=False),
    digits=st.integers(0, 3),
    extra=st.integers(0, MAX_EXTRA_DIGITS),
    commas=st.booleans(),
)
def test_a_figure_rounded_from_an_output_matches_it_and_one_step_off_does_not(x, digits, extra, commas):
    source = f"{x:.{digits + extra}f}"
    step = Decimal(1).scaleb(-digits)
    rounded = Decimal(source).quantize(step, rounding=ROUND_HALF_UP)
    spell = "{:,f}" if commas else "{:f}"
    prose = prose_figures(f"it reached {spell.format(rounded)} here")
    if digits == 0 and (rounded < 100 or (1900 <= rounded <= 2039 and not (commas and rounded >= 1000))):
        assert prose == []  # a small integer or a year is not scanned
        return
    assert [f.value for f in prose] == [rounded]
    assert Sources([f"value: {source}"]).find(prose[0])
    off = prose_figures(f"it reached {rounded + step:,f} here")[0]  # (with commas: never a year)
    assert not Sources([f"value: {source}"]).find(off)
