"""ug_robots against RFC 9309's examples and the cases a crawler meets.

libungil.so is loaded with ctypes from the meson build directory named by
UNGIL_BUILD.  The expectations are written from RFC 9309 (sections 2.2.2,
2.2.3, 5.1, 5.2) and from the behaviours Google's open-source parser
documents (groups, misspellings, line endings, the size cap), as our own
cases.  One deliberate difference from Google's parser: RFC 9309 section
2.2.2 says an escaped unreserved character in a rule is unescaped before
comparison ("/foo/bar/%62%61%7A" matches "/foo/bar/baz"); Google's parser
compares it as written.  ungil follows the RFC.
"""

import ctypes
import os
import pathlib

import pytest

UG_EINVAL = -2


def _load():
    build = os.environ.get("UNGIL_BUILD")
    assert build, "set UNGIL_BUILD to the meson build directory"
    lib = ctypes.CDLL(str(pathlib.Path(build) / "libungil.so"))
    lib.ug_robots_parse.argtypes = [ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p,
                                    ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_robots_parse.restype = ctypes.c_int
    lib.ug_robots_for_status.argtypes = [ctypes.c_int,
                                         ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_robots_for_status.restype = ctypes.c_int
    lib.ug_robots_allowed.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.ug_robots_allowed.restype = ctypes.c_int
    lib.ug_robots_crawl_delay.argtypes = [ctypes.c_void_p]
    lib.ug_robots_crawl_delay.restype = ctypes.c_double
    lib.ug_robots_free.argtypes = [ctypes.c_void_p]
    lib.ug_robots_free.restype = None
    lib.ug_url_path_query.argtypes = [ctypes.c_char_p,
                                      ctypes.POINTER(ctypes.c_void_p)]
    lib.ug_url_path_query.restype = ctypes.c_int
    return lib


LIB = _load()
LIBC = ctypes.CDLL(None)
LIBC.free.argtypes = [ctypes.c_void_p]


class Robots:
    """One parsed robots.txt for one crawler."""

    def __init__(self, text, agent="ungil", status=None):
        self.handle = ctypes.c_void_p()
        if status is None:
            data = text.encode("utf-8") if isinstance(text, str) else text
            rc = LIB.ug_robots_parse(data, len(data), agent.encode(),
                                     ctypes.byref(self.handle))
        else:
            rc = LIB.ug_robots_for_status(status, ctypes.byref(self.handle))
        assert rc == 0

    def allowed(self, path):
        data = path.encode("utf-8") if isinstance(path, str) else path
        verdict = LIB.ug_robots_allowed(self.handle, data)
        assert verdict in (0, 1)
        return bool(verdict)

    def delay(self):
        return LIB.ug_robots_crawl_delay(self.handle)

    def __del__(self):
        LIB.ug_robots_free(self.handle)


def path_of(url):
    """The path and query ug_url_path_query gives for a crawl URL."""
    out = ctypes.c_void_p()
    assert LIB.ug_url_path_query(url.encode(), ctypes.byref(out)) == 0
    text = ctypes.string_at(out.value).decode()
    LIBC.free(out)
    return text


RFC_5_1 = """\
User-Agent: *
Disallow: *.gif$
Disallow: /example/
Allow: /publications/

User-Agent: foobot
Disallow:/
Allow:/example/page.html
Allow:/example/allowed.gif

User-Agent: barbot
User-Agent: bazbot
Disallow: /example/page.html

User-Agent: quxbot

EOF
"""


@pytest.mark.parametrize("agent,path,allowed", [
    ("foobot", "/example/page.html", True),
    ("foobot", "/example/allowed.gif", True),
    ("foobot", "/example/other.html", False),
    ("foobot", "/", False),
    ("FooBot/2.1 (+https://foo.example)", "/x", False),
    ("barbot", "/example/page.html", False),
    ("barbot", "/example/other.html", True),
    ("bazbot", "/example/page.html", False),
    ("bazbot", "/pic.gif", True),
    ("quxbot", "/example/page.html", True),
    ("quxbot", "/pic.gif", True),
    ("ungil", "/pic.gif", False),
    ("ungil", "/dir/pic.gif", False),
    ("ungil", "/pic.gif?size=2", True),
    ("ungil", "/example/", False),
    ("ungil", "/example/x", False),
    ("ungil", "/publications/", True),
    ("ungil", "/publications/x.gif", True),  # the longer Allow wins
    ("ungil", "/other", True),
])
def test_rfc9309_section_5_1(agent, path, allowed):
    assert Robots(RFC_5_1, agent).allowed(path) is allowed


def test_rfc9309_section_5_2_longest_match():
    r = Robots("User-Agent: *\nAllow: /example/page/\n"
               "Disallow: /example/page/disallowed.gif\n")
    assert r.allowed("/example/page/")
    assert r.allowed("/example/page/ok.gif")
    assert not r.allowed("/example/page/disallowed.gif")


@pytest.mark.parametrize("rule,path,matches", [
    # RFC 9309 section 2.2.2: percent-encoding before comparison
    ("/foo/bar?baz=quz", "/foo/bar?baz=quz", True),
    ("/foo/bar/\u30c4", "/foo/bar/%E3%83%84", True),
    ("/foo/bar/%E3%83%84", "/foo/bar/%E3%83%84", True),
    ("/foo/bar/%E3%83%84", "/foo/bar/\u30c4", True),
    ("/foo/bar/%e3%83%84", "/foo/bar/%E3%83%84", True),
    ("/foo/bar/%62%61%7A", "/foo/bar/baz", True),
    ("/foo/bar/baz", "/foo/bar/%62%61%7A", True),
    ("/a%2Fb", "/a/b", False),
    ("/a%2fb", "/a%2Fb", True),
    # section 2.2.3: special characters
    ("/path/file-with-a-%2A.html", "/path/file-with-a-*.html", False),
    ("/path/file-with-a-%2A.html", "/path/file-with-a-%2A.html", True),
    ("/path/foo-%24", "/path/foo-$", False),
    ("/path/foo-%24", "/path/foo-%24", True),
    ("/path/foo-$", "/path/foo-", True),
    ("/path/foo-$", "/path/foo-x", False),
    # paths are case-sensitive, wildcards span '/' and '?'
    ("/Case", "/case", False),
    ("/*/x", "/a/b/c/x", True),
    ("/*x$", "/a?q=x", True),
    ("/a*", "/a", True),
])
def test_rule_path_matching(rule, path, matches):
    r = Robots("user-agent: *\ndisallow: %s\n" % rule)
    assert r.allowed(path) is not matches


def test_groups_merge_and_fallback():
    text = ("User-agent: ungil\nDisallow: /one\n\n"
            "User-agent: other\nDisallow: /\n\n"
            "User-agent: UNGIL\nDisallow: /two\n\n"
            "User-agent: *\nDisallow: /three\n")
    r = Robots(text)
    assert not r.allowed("/one") and not r.allowed("/two")
    assert r.allowed("/three")
    assert Robots(text, "somebot").allowed("/one")
    assert not Robots(text, "somebot").allowed("/three")


def test_user_agent_token_rules():
    text = "user-agent: ungil-crawler\ndisallow: /\n"
    assert Robots(text, "ungil").allowed("/x")
    assert not Robots(text, "ungil-crawler/1.0").allowed("/x")
    assert not Robots("user-agent: Ungil/9.9 extra\ndisallow: /\n",
                      "ungil").allowed("/x")


def test_lines_google_tolerates():
    text = ("\ufeffuser-agent: *\r\n"
            "disallow /no-colon\r\n"
            "DISALLOW:/upper\r"
            "  Disallow  :  /spaced  # trailing comment\n"
            "dissallow: /misspelt\n"
            "crawl-delay: 2.5\n"
            "sitemap: https://example.com/sitemap.xml\n"
            "nonsense line without meaning\n"
            "allow: /no-colon/but-allowed\n")
    r = Robots(text)
    for path in ("/no-colon", "/upper", "/spaced", "/misspelt"):
        assert not r.allowed(path), path
    assert r.allowed("/no-colon/but-allowed/x")
    assert r.allowed("/other")
    assert r.delay() == 2.5


def test_robots_txt_itself_always_allowed():
    r = Robots("user-agent: *\ndisallow: /\n")
    assert r.allowed("/robots.txt")
    assert not r.allowed("/")
    assert not r.allowed("/index.html")


def test_size_cap_500_kib():
    filler = "# padding\n" * (500 * 1024 // 10)
    text = "user-agent: *\ndisallow: /before\n" + filler + "disallow: /after\n"
    assert len(text.encode()) > 500 * 1024
    r = Robots(text)
    assert not r.allowed("/before")
    assert r.allowed("/after")


def test_garbage_and_binary():
    r = Robots(b"\x00\xff\xfe<html><body>Not found</body></html>\n\x89PNG\r\n")
    assert r.allowed("/anything")
    assert r.delay() < 0


@pytest.mark.parametrize("status,allowed", [
    (400, True), (401, True), (403, True), (404, True), (410, True),
    (301, True), (429, False), (500, False), (502, False), (503, False),
    (0, False), (-1, False),
])
def test_status_codes(status, allowed):
    r = Robots(None, status=status)
    assert r.allowed("/page") is allowed
    assert r.allowed("/robots.txt")


def test_status_2xx_is_refused():
    handle = ctypes.c_void_p()
    assert LIB.ug_robots_for_status(200, ctypes.byref(handle)) == UG_EINVAL


def test_crawl_urls_match_through_their_normal_form():
    r = Robots("user-agent: *\ndisallow: /~joe/\ndisallow: /*.pdf$\n")
    assert not r.allowed(path_of("http://Example.com/%7Ejoe/x.html#top"))
    assert not r.allowed(path_of("http://example.com/a/../b/report.pdf"))
    assert r.allowed(path_of("http://example.com/report.pdf?page=2"))
