"""ug_html link extraction against BeautifulSoup, link for link.

libungil.so is loaded with ctypes from the meson build directory named by
UNGIL_BUILD.  For each page, the links ungil reports (tag and URL, in
document order) must equal what BeautifulSoup finds: every <a>, <area> and
<link> with an href, in document order, the href stripped like a browser
strips it, resolved with urllib.parse.urljoin against the first <base
href> (itself resolved against the page URL) and normalised by this file's
own normaliser (written apart from the C code, from the rules in
ungil/url.h); hrefs that are empty or not http(s) are left out.

Two BeautifulSoup builders are used.  html5lib implements the HTML
standard's tokenizer, as browsers do, and ungil follows it.  html.parser
(the standard library's) differs on purpose-built pages, and the tests
pin down where: it reports links inside <title>, <textarea>, <iframe>,
<noembed>, <noframes> and <xmp> (raw text to browsers and html5lib), it
decodes "&copy=" inside attribute values (browsers leave a reference
without ';' alone when '=' or a letter follows), and of a duplicated
attribute it keeps the last one (browsers keep the first).  On generated pages without these constructs all
three agree exactly.

One html5lib artefact is kept out of the pages: when an <a> is left open
and its block ends, the HTML standard's tree builder reopens a copy of it
("reconstructing the active formatting elements"), so the tree holds more
<a> elements than the source.  A link extractor reads the source; the
pages close their <a> elements where a copy would appear.
"""

import ctypes
import os
import pathlib
import random
import re
import urllib.parse

import pytest
from bs4 import BeautifulSoup

PAGE_URL = "http://ex.com/dir/page.html"
LINK_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                           ctypes.c_char_p)


def _load():
    build = os.environ.get("UNGIL_BUILD")
    assert build, "set UNGIL_BUILD to the meson build directory"
    lib = ctypes.CDLL(str(pathlib.Path(build) / "libungil.so"))
    lib.ug_html_new.argtypes = [ctypes.c_char_p, LINK_FN, ctypes.c_void_p,
                                ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_html_new.restype = ctypes.c_int
    lib.ug_html_feed.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                 ctypes.c_size_t]
    lib.ug_html_feed.restype = ctypes.c_int
    lib.ug_html_finish.argtypes = [ctypes.c_void_p]
    lib.ug_html_finish.restype = ctypes.c_int
    lib.ug_html_title.argtypes = [ctypes.c_void_p]
    lib.ug_html_title.restype = ctypes.c_char_p
    lib.ug_html_free.argtypes = [ctypes.c_void_p]
    lib.ug_html_free.restype = None
    return lib


LIB = _load()


def ungil_links(page, chunk=4096, page_url=PAGE_URL):
    """[(tag, url)] and the title that ug_html finds in `page` (str)."""
    data = page.encode("utf-8")
    found = []

    @LINK_FN
    def on_link(_ctx, url, tag):
        found.append((tag.decode(), url.decode()))

    h = ctypes.c_void_p()
    assert LIB.ug_html_new(page_url.encode(), on_link, None,
                           ctypes.byref(h)) == 0
    try:
        for i in range(0, len(data), chunk):
            piece = data[i:i + chunk]
            assert LIB.ug_html_feed(h, piece, len(piece)) == 0
        assert LIB.ug_html_finish(h) == 0
        title = LIB.ug_html_title(h)
    finally:
        LIB.ug_html_free(h)
    return found, title.decode() if title is not None else None


# ---- the reference: BeautifulSoup + urljoin + an independent normaliser ----

UNRESERVED = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 b"0123456789-._~")
ENCODE = set(range(0, 0x21)) | set(range(0x7F, 0x100)) | set(b'"<>\\^`{|}')
HEX = set(b"0123456789abcdefABCDEF")


def pct_normalise(text):
    """Escapes of unreserved bytes decoded, other escapes upper-case, bytes
    that may not appear literally (and lone '%') encoded."""
    data = text.encode("utf-8", "surrogateescape")
    out = []
    i = 0
    while i < len(data):
        b = data[i]
        if b == 0x25 and i + 2 < len(data) + 0 and data[i + 1] in HEX \
                and data[i + 2] in HEX:
            v = int(data[i + 1:i + 3], 16)
            out.append(chr(v) if v in UNRESERVED else "%%%02X" % v)
            i += 3
            continue
        out.append("%%%02X" % b if b in ENCODE or b == 0x25 else chr(b))
        i += 1
    return "".join(out)


def remove_dot_segments(path):
    """RFC 3986 section 5.2.4 for an absolute path."""
    out = []
    segments = path.split("/")[1:]
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def normalise(url):
    """The normal form ungil/url.h promises, or None (not http(s))."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    port = parts.port
    if port == {"http": 80, "https": 443}[scheme]:
        port = None
    netloc = host if port is None else "%s:%d" % (host, port)
    path = pct_normalise(parts.path or "/")
    path = remove_dot_segments(path if path.startswith("/") else "/" + path)
    query = pct_normalise(parts.query)
    return "%s://%s%s%s" % (scheme, netloc, path, "?" + query if query else "")


def browser_strip(href):
    """Leading and trailing C0 controls and spaces removed, tabs and
    newlines removed inside, as the URL standard does."""
    href = href.strip("".join(chr(c) for c in range(0x21)))
    return re.sub("[\t\n\r]", "", href)


def reference_links(page, builder, page_url=PAGE_URL):
    """[(tag, url)] as BeautifulSoup with `builder` finds them."""
    soup = BeautifulSoup(page, builder)
    base = page_url
    first_base = soup.find("base", href=True)
    if first_base is not None:
        joined = normalise(urllib.parse.urljoin(page_url,
                                                browser_strip(first_base["href"])))
        if joined:
            base = joined
    links = []
    for tag in soup.find_all(["a", "area", "link"], href=True):
        href = tag["href"]
        if isinstance(href, list):  # html.parser keeps multi-valued attrs
            href = " ".join(href)
        href = browser_strip(href)
        if not href:
            continue
        url = normalise(urllib.parse.urljoin(base, href))
        if url:
            links.append((tag.name, url))
    return links


def reference_title(page, builder):
    soup = BeautifulSoup(page, builder)
    if soup.title is None or soup.title.string is None:
        return None
    text = re.sub("[ \t\n\f\r]+", " ", soup.title.string).strip(" ")
    return text or None


# ---- generated pages -------------------------------------------------------

HREFS = ["x.html", "/abs/path", "../up/one", "./here/", "?q=1&r=2",
         "//cdn.example.org/lib.js", "https://Other.COM:443/%7euser/",
         "http://ex.com:80/a/./b/../c", "sub/dir/file.php?id=7#frag",
         "#only-fragment", "mailto:someone@example.com", "javascript:void(0)",
         "a%2fb%41", "caf\u00e9/men\u00fc", "with space.html", "/%7E/~/",
         "HTTP://EX.COM/UPPER", "q?x=%zz", ""]
FILLER = ["<p>Some text &amp; more text.</p>\n", "<div class=\"c\"><span>x</span></div>\n",
          "<!-- a comment <a href=\"hidden.html\"> -->\n",
          "<script>var s = '<a href=\"nope.html\">';</script>\n",
          "<style>a[href] { color: red }</style>\n",
          "<img src=\"i.png\" alt=\"picture\">\n", "<ul><li>one<li>two</ul>\n",
          "text with 1 < 2 and 3 > 2\n", "<br/>\n", "<table><tr><td>cell</td></tr></table>\n"]


def escape_attr(href, rng):
    """The href written with some of its characters as references."""
    out = []
    for ch in href:
        r = rng.random()
        if ch == "&":
            out.append("&amp;")
        elif r < 0.05:
            out.append("&#%d;" % ord(ch))
        elif r < 0.1:
            out.append("&#x%X;" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def link_markup(rng, href):
    tag = rng.choice(["a", "a", "a", "area", "link", "A", "Link"])
    attr = rng.choice(["href", "HREF", "Href"])
    value = escape_attr(href, rng)
    quote = rng.choice(['"', "'", ""])
    if not quote and (not value or re.search(r"[\s\"'=<>`]", value)):
        quote = '"'
    if quote == "'" and "'" in value:
        quote = '"'
    extra = rng.choice(["", ' class="k"', " rel=nofollow", ' title="t"'])
    if rng.random() < 0.5:
        attrs = "%s %s=%s%s%s" % (extra, attr, quote, value, quote)
    else:
        attrs = " %s=%s%s%s%s" % (attr, quote, value, quote, extra)
    close = {"a": "</a>", "A": "</A>"}.get(tag, "")
    return "<%s%s>text%s" % (tag, attrs, close)


def generated_page(seed, links=60, base=None):
    rng = random.Random(seed)
    head = "<title>Page %d &amp; more</title>" % seed
    if base:
        head += '<base href="%s">' % base
    parts = ["<!DOCTYPE html><html><head>%s</head><body>\n" % head]
    for _ in range(links):
        parts.append(rng.choice(FILLER))
        parts.append(link_markup(rng, rng.choice(HREFS)))
    parts.append("</body></html>\n")
    return "".join(parts)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("base", [None, "/other/base/", "https://cdn.example.net/x/"])
def test_generated_pages_match_both_builders(seed, base):
    page = generated_page(seed, base=base)
    got, title = ungil_links(page, chunk=1 + seed * 7)
    assert len(got) > 20
    assert got == reference_links(page, "html5lib")
    assert got == reference_links(page, "html.parser")
    assert title == reference_title(page, "html5lib") == "Page %d & more" % seed


# ---- hand-written tricky pages -------------------------------------------

TRICKY = {
    "base_href": '<html><head><BASE HREF="/b/"><base href="/ignored/"></head>'
                 '<a href="rel">x</a><link href="s.css"></html>',
    "entities": '<a href="a?x=1&amp;y=2">1</a><a href="&#47;slash&#x2F;hex">2</a>'
                '<a href="caf&eacute;">3</a><a href="&lt;tag&gt;">4</a>',
    "uppercase": '<A HREF="/UP">x</A><AREA HREF=area><LINK REL=x HREF="lnk">',
    "unquoted": "<a href=/plain>1</a><a href=q?a=1&b=2>2</a><a class=x href=z/>3</a>",
    "comments": '<!-- <a href="c1"> --><a href=after1>'
                '<!-- x -- y <a href="c2"> --><a href=after2>'
                '<!----><a href=after3><!--><a href=after4>'
                '<!-- unterminated <a href="c3">',
    "script": '<script>document.write("<a href=\'s1\'>");</script><a href=ok1>'
              '<SCRIPT type="text/x">if (a < b) { "</scr" + "ipt>" }</SCRIPT>'
              '<a href=ok2><style>p::after { content: "<a href=s2>" }</style>'
              '<a href=ok3>',
    "malformed": '<div><a href="one">1</a><p><b>bold<i>it</b></i></div></p>'
                 '<a href="two">2</a></span></table><table><tr><td>'
                 '<a href="three">3</a></td></tr></table>'
                 "<a href='four'><a href=\"five\"title=x>"
                 '<a href=" \n six \t ">',
    "whitespace": "<a\nhref\n=\n'nl'>1</a><a\thref=\ttab>2</a>",
}


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_pages_match_html5lib(name):
    page = TRICKY[name]
    want = reference_links(page, "html5lib")
    assert want, "the page must have links"
    for chunk in (1, 3, 7, 4096):
        got, _ = ungil_links(page, chunk=chunk)
        assert got == want, chunk


def test_tricky_pages_where_html_parser_agrees():
    for name in ("base_href", "entities", "uppercase", "unquoted",
                 "comments", "script", "malformed", "whitespace"):
        page = TRICKY[name]
        assert reference_links(page, "html.parser") == \
            reference_links(page, "html5lib"), name


def test_expected_urls_of_tricky_pages():
    """The reference itself, pinned, so that a change in either side shows."""
    got, _ = ungil_links(TRICKY["base_href"])
    assert got == [("a", "http://ex.com/b/rel"), ("link", "http://ex.com/b/s.css")]
    got, _ = ungil_links(TRICKY["entities"])
    assert got == [("a", "http://ex.com/dir/a?x=1&y=2"),
                   ("a", "http://ex.com/slash/hex"),
                   ("a", "http://ex.com/dir/caf%C3%A9"),
                   ("a", "http://ex.com/dir/%3Ctag%3E")]
    got, _ = ungil_links(TRICKY["comments"])
    assert [u for _, u in got] == ["http://ex.com/dir/after1",
                                   "http://ex.com/dir/after2",
                                   "http://ex.com/dir/after3",
                                   "http://ex.com/dir/after4"]


# ---- where the builders disagree: ungil follows html5lib --------------------

DISAGREE = {
    "raw_text_elements": '<title><a href="t"></title><textarea><a href="ta">'
                         '</textarea><iframe><a href="if"></iframe>'
                         '<xmp><a href="x"></xmp><a href="ok">',
    "legacy_reference_in_attribute": '<a href="p?a=1&copy=2&not=3">x</a>',
    "duplicate_attribute": "<a href='first' href='second'>x</a>",
}


@pytest.mark.parametrize("name", sorted(DISAGREE))
def test_disagreements_follow_html5lib(name):
    page = DISAGREE[name]
    html5 = reference_links(page, "html5lib")
    parser = reference_links(page, "html.parser")
    assert html5 != parser, "the builders are expected to disagree here"
    got, _ = ungil_links(page, chunk=2)
    assert got == html5


def test_disagreement_details():
    got, _ = ungil_links(DISAGREE["raw_text_elements"])
    assert got == [("a", "http://ex.com/dir/ok")]
    got, _ = ungil_links(DISAGREE["legacy_reference_in_attribute"])
    assert got == [("a", "http://ex.com/dir/p?a=1&copy=2&not=3")]
    got, _ = ungil_links(DISAGREE["duplicate_attribute"])
    assert got == [("a", "http://ex.com/dir/first")]


def test_base_after_links_applies_only_to_later_links():
    """ungil reports links as they stream past, so a <base> affects the
    links after it (BeautifulSoup, seeing the whole page, would apply it
    to all of them; pages put <base> in the head, before any link)."""
    page = '<a href="early"><base href="/b/"><a href="late">'
    got, _ = ungil_links(page)
    assert got == [("a", "http://ex.com/dir/early"), ("a", "http://ex.com/b/late")]


def test_titles_match_html5lib():
    pages = ["<title>  Hello \n\t World </title>",
             "<TITLE>A &amp; B &lt;c&gt;</TITLE><title>second</title>",
             "<html><head><title>caf\u00e9 \u2014 menu</title></head></html>",
             "<title><b>not bold</b></title>"]
    for page in pages:
        _, title = ungil_links(page, chunk=3)
        assert title == reference_title(page, "html5lib"), page
    _, title = ungil_links("<p>no title</p>")
    assert title is None
